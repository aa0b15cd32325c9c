import { INestApplication } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  DocumentBuilder,
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  PathItemObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SECURITY, TAG } from './parameters';
import { SCHEMAS } from './schemas';

/** Swagger UI; the document itself is served as JSON at DOCS_JSON_PATH. Neither needs a token. */
export const DOCS_PATH = 'docs';
export const DOCS_JSON_PATH = 'docs/json';

/**
 * The Nest routes name path parameters after their handlers (`users/:user/...`,
 * `:other`); the document shows the contract's paths instead. `{user}` stands
 * for the whole `xuid(...)` segment, documented as the `xuid` parameter inside it.
 */
const PATH_REWRITES: { from: string; to: string; parameter?: { from: string; to: string } }[] = [
  { from: '{user}', to: 'xuid({xuid})' },
  { from: '{other}', to: '{otherXuid}', parameter: { from: 'other', to: 'otherXuid' } },
];

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface PackageInfo {
  name: string;
  version: string;
  description?: string;
}

/** The project's package.json: beside the sources in development, one level above dist/ when built. */
function readPackageInfo(): PackageInfo {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return JSON.parse(readFileSync(candidate, 'utf8')) as PackageInfo;
    if (dirname(dir) === dir) return { name: 'xbl-message-service', version: '0.0.0' };
  }
}

const DESCRIPTION = `

Users send short text messages to up to 20 other users at once, by XUID or gamertag; recipients page
through their inbox newest first, read a message (which marks it read) and delete it. Beyond the original
service: the inbox's exact counts (\`inbox/summary\`), read state without fetching, batch actions on up to
100 messages (\`inbox/batch\`), and the sender's limits with what is used of them (\`outbox/limits\`). A client written
against the real service (\`msg.xboxlive.com\`) works against this one unchanged: same paths, JSON shapes
and status codes.

**Paths.** User routes carry the XUID in the literal segment \`xuid({xuid})\`, for example
\`/users/xuid(2533274790412952)/inbox\`. The parentheses may arrive percent-encoded
(\`/users/xuid%282533274790412952%29/inbox\`): both forms are the same path.

**XUIDs** are unsigned 64-bit integers (1..18446744073709551615). Responses always carry them as strings
of decimal digits; a request may name a recipient XUID as a JSON number or a string, and numbers above 2^53
are read exactly.

**Authentication.** User routes take \`Authorization: XBL3.0 x=<userhash>;<jwt>\` or
\`Authorization: Bearer <jwt>\`; the JWT carries \`xid\` (the XUID as a string), \`exp\`, and optionally
\`gtg\` (gamertag) and \`tier\` (\`gold\` or \`silver\`; sending requires \`gold\`). The token's XUID must
be the path XUID. Admin routes take \`Authorization: Bearer <ADMIN_TOKEN>\`.

**Errors.** Every 4xx and 5xx response is an \`ErrorResponse\`:
\`{"errorSource": "...", "errorCode": 6004, "errorMessage": "..."}\`. Each response below lists its
errorCodes; \`docs/errors.md\` has the whole table. Clients may switch on \`errorCode\`, never on
\`errorMessage\`.`;

/** The document's metadata, security schemes, tags and component schemas. */
export function buildOpenApiConfig(): Omit<OpenAPIObject, 'paths'> {
  const pkg = readPackageInfo();
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.0.3')
    .setTitle(pkg.name)
    .setDescription(`${pkg.description ?? ''}${DESCRIPTION}`)
    .setVersion(pkg.version)
    .addSecurity(SECURITY.userXbl3, {
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      description:
        'The whole Authorization header value of a user: `XBL3.0 x=<userhash>;<jwt>` (`Bearer <jwt>` also works here). ' +
        'A development token: `npm run token -- --xuid <xuid> --gamertag <gamertag>`.',
    })
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A user JWT sent as `Authorization: Bearer <jwt>`.' },
      SECURITY.userBearer,
    )
    .addSecurity(SECURITY.adminBearer, {
      type: 'http',
      scheme: 'bearer',
      description: 'The admin token (`ADMIN_TOKEN`, not a JWT) sent as `Authorization: Bearer <token>`.',
    })
    .addTag(TAG.outbox, 'Sending messages.')
    .addTag(TAG.inbox, "Reading, marking read and deleting the caller's own messages.")
    .addTag(TAG.admin, 'The directory: users, friendships, blocks and communication settings.')
    .addTag(TAG.health, 'Liveness, readiness and Prometheus metrics.')
    .build();
  return { ...config, components: { ...config.components, schemas: { ...SCHEMAS } } };
}

const TAG_ORDER: string[] = Object.values(TAG);
const PARAMETER_ORDER = ['path', 'query', 'header', 'cookie'];

const operationsOf = (item: PathItemObject): OperationObject[] =>
  HTTP_METHODS.map((method) => item[method]).filter((operation): operation is OperationObject => !!operation);

const tagRank = (item: PathItemObject): number => {
  const tag = operationsOf(item)[0]?.tags?.[0];
  const rank = tag === undefined ? -1 : TAG_ORDER.indexOf(tag);
  return rank === -1 ? TAG_ORDER.length : rank;
};

/** Path parameters first, in the order the path names them; then query, then header parameters. */
function sortParameters(path: string, operation: OperationObject): void {
  const rank = (parameter: ParameterObject): number =>
    PARAMETER_ORDER.indexOf(parameter.in) * 10_000 + (parameter.in === 'path' ? path.indexOf(`{${parameter.name}}`) : 0);
  (operation.parameters as ParameterObject[] | undefined)?.sort((a, b) => rank(a) - rank(b));
}

/**
 * Renames path keys and path parameters from the Nest routes' names to the
 * contract's, and lists the paths in tag order (outbox, inbox, admin, health).
 */
export function toContractPaths(document: OpenAPIObject): OpenAPIObject {
  const paths: Record<string, PathItemObject> = {};
  const entries = Object.entries(document.paths).sort(([, a], [, b]) => tagRank(a) - tagRank(b));
  for (const [path, item] of entries) {
    let contractPath = path;
    for (const rewrite of PATH_REWRITES) {
      contractPath = contractPath.split(rewrite.from).join(rewrite.to);
      if (!rewrite.parameter || !path.includes(rewrite.from)) continue;
      for (const method of HTTP_METHODS) {
        const operation: OperationObject | undefined = item[method];
        for (const parameter of (operation?.parameters ?? []) as ParameterObject[]) {
          if (parameter.in === 'path' && parameter.name === rewrite.parameter.from) parameter.name = rewrite.parameter.to;
        }
      }
    }
    for (const operation of operationsOf(item)) sortParameters(contractPath, operation);
    paths[contractPath] = item;
  }
  return { ...document, paths };
}

/** The OpenAPI 3 document of the gateway's whole HTTP surface. */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  return toContractPaths(SwaggerModule.createDocument(app, buildOpenApiConfig()));
}

/**
 * Serves Swagger UI at /docs and the document at /docs/json, without
 * authentication. Call it on the created app before `listen`/`init`.
 */
export function setupOpenApi(app: NestFastifyApplication): void {
  const document = createOpenApiDocument(app);
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: DOCS_JSON_PATH,
    raw: ['json'],
    customSiteTitle: `${document.info.title} API`,
    swaggerOptions: {
      // No calls to the public validator: the UI must work offline.
      validatorUrl: null,
      displayOperationId: true,
      docExpansion: 'list',
    },
  });
}
