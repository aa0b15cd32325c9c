import { DynamicModule, Module, Type } from '@nestjs/common';
import { SharedConfig } from './shared.config';

/**
 * Provides a service's validated config object under its own class (and as
 * SharedConfig), so consumers inject `GatewayConfig` and read typed fields.
 * Validation happens once, in main.ts, before the app is built.
 */
@Module({})
export class ConfigModule {
  static forRoot<T extends SharedConfig>(cls: Type<T>, config: T): DynamicModule {
    return {
      module: ConfigModule,
      global: true,
      providers: [
        { provide: cls, useValue: config },
        { provide: SharedConfig, useValue: config },
      ],
      exports: [cls, SharedConfig],
    };
  }
}
