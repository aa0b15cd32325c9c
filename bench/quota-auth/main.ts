/**
 * What authenticating the quota RPC costs per call, in CPU: the gateway's
 * QuotaRpcSigner.sign and quota's QuotaRpcVerifier.verify on a reserve
 * payload as the gateway sends it, beside JSON.stringify of the same payload
 * and the cheaper design not taken (the secret itself in every message,
 * compared with timingSafeEqual). No services, no network.
 *
 *   npm run bench:quota-auth
 */
import { timingSafeEqual } from 'node:crypto';
import { parseKeyList } from '@app/shared/config';
import { QUOTA_PATTERNS, QuotaReserveRequest } from '@app/shared/contracts';
import { QuotaRpcSigner, QuotaRpcVerifier } from '@app/shared/quota';
import { Xuid } from '@app/shared/xuid';

const KEYS = parseKeyList(`q2:${'n'.repeat(64)},q1:${'o'.repeat(64)}`);
const BATCH = 10_000;
const BATCHES = 20;
const ROUNDS = 5;

const reserve: QuotaReserveRequest = {
  senderXuid: '2533274790412952' as Xuid,
  messageId: '01KA3MZ3Q8W9E4RPZ5H7X2C6VB',
  recipients: 12,
  strangers: 3,
  sentAt: 1_790_000_000_123,
  requestId: '6f1c2a0e-58d4-4c4e-9d0b-3e2f6a7b8c9d',
};

/** Nanoseconds per call of `run` over BATCH calls, `prepare` (untimed) giving each batch its inputs. */
function measure<T>(prepare: () => T[], run: (input: T) => unknown): number {
  let total = 0n;
  for (let batch = 0; batch < BATCHES; batch++) {
    const inputs = prepare();
    const start = process.hrtime.bigint();
    for (const input of inputs) run(input);
    total += process.hrtime.bigint() - start;
  }
  return Number(total) / (BATCH * BATCHES);
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function main(): void {
  const signer = new QuotaRpcSigner(KEYS);
  const verifier = new QuotaRpcVerifier(KEYS);
  const wire = JSON.stringify(signer.sign(QUOTA_PATTERNS.reserve, reserve));
  const secret = Buffer.from(KEYS[0].secret);
  const same = () => Array.from({ length: BATCH }, () => reserve);
  // verify takes the credential off what it checks: a fresh parsed copy per call, as quota receives it.
  const received = () => Array.from({ length: BATCH }, () => JSON.parse(wire) as unknown);

  const cases: [string, () => number][] = [
    ['JSON.stringify(payload), for scale', () => measure(same, (payload) => JSON.stringify(payload))],
    [
      'gateway: sign (stringify + HMAC-SHA256 + base64url)',
      () => measure(same, (payload) => signer.sign(QUOTA_PATTERNS.reserve, payload)),
    ],
    [
      'quota: verify (stringify + HMAC-SHA256 + timingSafeEqual)',
      () => measure(received, (data) => verifier.verify(QUOTA_PATTERNS.reserve, data)),
    ],
    [
      'not taken: compare the secret sent in the message',
      () => measure(same, () => timingSafeEqual(Buffer.from(KEYS[0].secret), secret)),
    ],
  ];
  const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of cases) results.get(name)!.push(run());
  }
  console.log(
    `ns per call, median of ${ROUNDS} rounds of ${BATCH * BATCHES} calls (reserve payload, ${wire.length} bytes signed)`,
  );
  for (const [name, values] of results) console.log(`${median(values).toFixed(0).padStart(8)}  ${name}`);
}

main();
