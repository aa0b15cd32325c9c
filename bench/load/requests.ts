/** The requests both benchmarks drive: sends rotating over the roles, and inbox GETs rotating over users. */
import { BenchRoles, BenchUser, sendAt, sendBody } from './fill';
import { RequestSpec } from './load';

/** The sends of every phase share one sequence, so every body is distinct. */
export class Sends {
  private sequence = 0;

  constructor(
    private readonly roles: BenchRoles,
    private readonly authorization: Map<string, string>,
    private readonly tag: string,
  ) {}

  next = (): RequestSpec => {
    const n = this.sequence++;
    const { sender, recipients } = sendAt(this.roles, n);
    return {
      method: 'POST',
      path: `/users/xuid(${sender.xuid})/outbox`,
      headers: { authorization: this.authorization.get(sender.xuid) as string, 'content-type': 'application/json' },
      body: sendBody(recipients, `bench ${this.tag} send ${n}`),
    };
  };
}

export function rotatingGets(
  users: BenchUser[],
  authorization: Map<string, string>,
  query: (i: number) => string,
): () => RequestSpec {
  let i = 0;
  return () => {
    const n = i++;
    const user = users[n % users.length];
    return {
      method: 'GET',
      path: `/users/xuid(${user.xuid})/inbox?${query(n)}`,
      headers: { authorization: authorization.get(user.xuid) as string },
    };
  };
}
