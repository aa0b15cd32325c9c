import { IsIn, IsOptional, Validate, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';
import { COMMUNICATION_SETTINGS, CommunicationSetting } from '@app/shared/database/entities/user.entity';
import { GAMERTAG_RULE, isPossibleGamertag } from '@app/shared/directory/gamertag';

@ValidatorConstraint({ name: 'gamertag' })
export class GamertagConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return isPossibleGamertag(value);
  }

  defaultMessage(): string {
    return `gamertag must be ${GAMERTAG_RULE}`;
  }
}

/** Body of PUT /admin/users/{xuid}. */
export class UpsertUserDto {
  @Validate(GamertagConstraint)
  gamertag: string;

  /** Defaults to `everyone` for a new user; unchanged for an existing one when omitted. */
  @IsOptional()
  @IsIn(COMMUNICATION_SETTINGS, {
    message: `communication must be one of: ${COMMUNICATION_SETTINGS.join(', ')}, or be left out`,
  })
  communication?: CommunicationSetting;
}
