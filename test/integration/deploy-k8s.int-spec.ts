import { queuePrefix } from '@app/shared/redis';
import { dirname } from 'path';
import { ConfigError, loadConfig } from '@app/shared/config';
import { DELIVERY_QUEUE } from '@app/shared/contracts';
import {
  CONFIG_OF_COMMAND,
  declaredVariables,
  entrypointCommands,
  filesUnder,
  readText,
  readYamlDocuments,
} from '../fixtures/deploy/deploy-files';
import { schemaErrors } from '../fixtures/deploy/k8s-schemas';

/**
 * Offline checks of the manifests under deploy/k8s: every document against the
 * Kubernetes or KEDA JSON schema (test/fixtures/deploy/k8s-schemas.ts), then
 * the invariants that tie the objects to each other and to the services'
 * config classes (their variables from class-validator metadata). No cluster needed.
 */

type Labels = Record<string, string>;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  // Shapes are checked by the schema step; the invariants read them loosely.
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface Located extends K8sObject {
  file: string;
}

interface ContainerPort {
  name?: string;
  containerPort: number;
}

const K8S_DIR = 'deploy/k8s';
const AUTOSCALING_DIR = `${K8S_DIR}/autoscaling/`;
const files = filesUnder(K8S_DIR, '.yaml').concat(filesUnder(K8S_DIR, '.yml'));
const objects: Located[] = files.flatMap((file) =>
  (readYamlDocuments(file) as K8sObject[]).filter((doc) => doc !== null).map((doc) => ({ ...doc, file })),
);

const ofKind = (kind: string): Located[] => objects.filter((object) => object.kind === kind);
const named = (kind: string, name: string): Located | undefined => ofKind(kind).find((object) => object.metadata.name === name);

const namespace = ofKind('Namespace')[0]?.metadata.name;
const configMap = named('ConfigMap', 'xblmsg-config');
const secret = named('Secret', 'xblmsg-secrets');
const settings = { ...configMap?.data, ...secret?.stringData };
const deployments = ofKind('Deployment');
const workloads = [...deployments, ...ofKind('Job')];

// Values that pass validation, in place of the Secret's deliberately invalid placeholders.
const REAL_SECRETS = {
  DATABASE_URL: 'postgres://xblmsg:s3cret@db.internal:5432/xblmsg',
  REDIS_URL: 'redis://:s3cret@redis.internal:6379',
  AUTH_JWT_SECRET: 'j'.repeat(32),
  ADMIN_TOKEN: 'a'.repeat(16),
  PAGING_TOKEN_KEYS: `k1:${'p'.repeat(32)}`,
  QUOTA_RPC_KEYS: `q1:${'q'.repeat(32)}`,
};

// The HTTP port variable each service listens on (probes, Service).
const HTTP_PORT_VARIABLE: Record<string, string> = {
  gateway: 'PORT',
  quota: 'QUOTA_HTTP_PORT',
  delivery: 'DELIVERY_HTTP_PORT',
};
// Where each serves /metrics: the gateway only on its internal listener.
const METRICS_PORT_VARIABLE: Record<string, string> = { ...HTTP_PORT_VARIABLE, gateway: 'INTERNAL_PORT' };

function podSpecOf(workload: K8sObject): any {
  return workload.spec.template.spec;
}

function containerOf(workload: K8sObject): any {
  const containers = podSpecOf(workload).containers;
  expect(containers).toHaveLength(1);
  return containers[0];
}

function commandOf(workload: K8sObject): string {
  return containerOf(workload).args[0];
}

interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

const envOf = (workload: K8sObject): EnvEntry[] => containerOf(workload).env ?? [];

/** What a workload's process reads: the ConfigMap and the Secret (envFrom), its own env entries on top. */
function settingsOf(workload: K8sObject): Record<string, string | undefined> {
  const own = envOf(workload).map((entry) => {
    const ref = entry.valueFrom?.secretKeyRef;
    return [entry.name, ref ? named('Secret', ref.name)?.stringData?.[ref.key] : entry.value] as const;
  });
  return { ...settings, ...Object.fromEntries(own) };
}

function resolvePort(ports: ContainerPort[], port: string | number): number | undefined {
  return ports.find((entry) => entry.name === port || entry.containerPort === port)?.containerPort;
}

function selects(selector: Labels, labels: Labels | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: { port?: string | number; protocol?: string }[];
}

/** Kubernetes label-selector semantics: every matchLabels entry and every expression hold ({} selects all). */
function selectorMatches(selector: LabelSelector, labels: Labels | undefined): boolean {
  const label = (key: string): string | undefined => labels?.[key];
  return (
    selects(selector.matchLabels ?? {}, labels) &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      if (operator === 'In') return values.includes(label(key) ?? '\0');
      if (operator === 'NotIn') return !values.includes(label(key) ?? '\0');
      return (label(key) !== undefined) === (operator === 'Exists');
    })
  );
}

function deploymentsSelectedBy(selector: Labels, inNamespace?: string): Located[] {
  return deployments.filter(
    (deployment) =>
      deployment.metadata.namespace === inNamespace && selects(selector, deployment.spec.template.metadata.labels),
  );
}

describe('deploy/k8s manifests', () => {
  it('should parse every YAML document and find the expected objects', () => {
    const inventory = objects.map((object) => `${object.kind}/${object.metadata.name}`).sort();

    expect(inventory).toEqual(
      expect.arrayContaining([
        'Namespace/xblmsg',
        'ConfigMap/xblmsg-config',
        'Secret/xblmsg-secrets',
        'Job/migrate',
        'Deployment/gateway',
        'Deployment/quota',
        'Deployment/delivery',
        'Service/gateway',
        'Service/quota',
        'Service/delivery',
        'Service/gateway-internal',
        'Ingress/gateway',
        'PodDisruptionBudget/gateway',
        'PodDisruptionBudget/quota',
        'PodDisruptionBudget/delivery',
        'HorizontalPodAutoscaler/gateway',
        'ScaledObject/delivery',
        'ScaledObject/delivery-redis-cluster',
        'HorizontalPodAutoscaler/delivery',
      ]),
    );
  });

  it('should match the Kubernetes and KEDA schemas', () => {
    const invalid = objects.flatMap(({ file, ...object }) =>
      schemaErrors(object).map((error) => `${file} ${object.kind}/${object.metadata.name}: ${error}`),
    );

    expect(invalid).toEqual([]);
  });

  it('should catch a schema violation (the schema step is live)', () => {
    const deployment = named('Deployment', 'gateway')!;
    const broken = { ...deployment, spec: { ...deployment.spec, replicas: 'two' } };

    expect(schemaErrors(broken)).toEqual([expect.stringContaining('replicas')]);
    expect(schemaErrors({ ...deployment, apiVersion: 'apps/v1beta1' })).toEqual(['no schema for apps/v1beta1 Deployment']);
  });

  it('should put every namespaced object in the one namespace, with unique names per kind', () => {
    const keys = objects
      .filter((object) => object.kind !== 'Namespace')
      .map((object) => {
        expect({ object: `${object.kind}/${object.metadata.name}`, namespace: object.metadata.namespace }).toEqual({
          object: `${object.kind}/${object.metadata.name}`,
          namespace,
        });
        return `${object.kind}/${object.metadata.name}`;
      });
    const repeated = keys.filter((key, index) => keys.indexOf(key) !== index);
    expect(repeated).toEqual([]);
  });

  it('should mark every Secret placeholder CHANGE ME', () => {
    for (const object of ofKind('Secret')) {
      expect(readText(object.file)).toContain('CHANGE ME');
    }
    const serviceSecrets = ofKind('Secret').filter((object) => !object.file.startsWith(AUTOSCALING_DIR));
    expect(serviceSecrets.map((object) => object.metadata.name).sort()).toEqual(['xblmsg-quota-rpc', 'xblmsg-secrets']);
    for (const object of serviceSecrets) {
      for (const [key, value] of Object.entries(object.stringData ?? {})) {
        expect({ key, placeholder: value.includes('CHANGE-ME') }).toEqual({ key, placeholder: true });
      }
    }
  });

  it('should give QUOTA_RPC_KEYS to the gateway and quota only, from a Secret no pod loads whole', () => {
    const readers = workloads
      .filter((workload) => envOf(workload).some((entry) => entry.name === 'QUOTA_RPC_KEYS'))
      .map((workload) => commandOf(workload))
      .sort();
    const refs = ['gateway', 'quota'].map(
      (name) => envOf(named('Deployment', name)!).find((entry) => entry.name === 'QUOTA_RPC_KEYS')?.valueFrom?.secretKeyRef,
    );

    expect(readers).toEqual(['gateway', 'quota']);
    expect(refs).toEqual([
      { name: 'xblmsg-quota-rpc', key: 'QUOTA_RPC_KEYS' },
      { name: 'xblmsg-quota-rpc', key: 'QUOTA_RPC_KEYS' },
    ]);
    expect(secret?.stringData).not.toHaveProperty('QUOTA_RPC_KEYS');
    for (const workload of workloads) {
      expect(containerOf(workload).envFrom).not.toContainEqual({ secretRef: { name: 'xblmsg-quota-rpc' } });
    }
  });

  describe.each(['gateway', 'quota', 'delivery'])('the %s Deployment', (name) => {
    const deployment = named('Deployment', name)!;
    const container = containerOf(deployment);
    const ports: ContainerPort[] = container.ports ?? [];
    const httpPort = Number(settings[HTTP_PORT_VARIABLE[name]]);

    it('should run its own service from the shared image with two replicas', () => {
      expect(commandOf(deployment)).toBe(name);
      expect(entrypointCommands().has(name)).toBe(true);
      expect(deployment.spec.replicas).toBe(2);
      expect(selects(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
    });

    it('should probe liveness on /healthz and readiness on /readyz at the port the service listens on', () => {
      const { livenessProbe, readinessProbe } = container;

      expect(livenessProbe.httpGet.path).toBe('/healthz');
      expect(readinessProbe.httpGet.path).toBe('/readyz');
      expect(resolvePort(ports, livenessProbe.httpGet.port)).toBe(httpPort);
      expect(resolvePort(ports, readinessProbe.httpGet.port)).toBe(httpPort);
    });

    it('should have Prometheus scrape /metrics on the port that serves it', () => {
      const annotations = deployment.spec.template.metadata.annotations;
      const metricsPort = Number(settings[METRICS_PORT_VARIABLE[name]]);

      expect(annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/path': '/metrics',
        'prometheus.io/port': String(metricsPort),
      });
      expect(resolvePort(ports, metricsPort)).toBe(metricsPort);
    });

    it('should be served by Services whose ports reach its container ports', () => {
      const services = ofKind('Service').filter(
        (service) => deploymentsSelectedBy(service.spec.selector, service.metadata.namespace)[0] === deployment,
      );

      expect(services.map((service) => service.metadata.name).sort()).toEqual(
        name === 'gateway' ? ['gateway', 'gateway-internal'] : [name],
      );
      for (const port of services.flatMap((service) => service.spec.ports)) {
        expect({ port: port.name, target: resolvePort(ports, port.targetPort) }).toEqual({
          port: port.name,
          target: expect.any(Number),
        });
      }
    });

    it('should allow only one voluntary disruption at a time', () => {
      const budgets = ofKind('PodDisruptionBudget').filter(
        (budget) => deploymentsSelectedBy(budget.spec.selector.matchLabels, budget.metadata.namespace)[0] === deployment,
      );

      expect(budgets).toHaveLength(1);
      expect(budgets[0].spec.maxUnavailable ?? deployment.spec.replicas - budgets[0].spec.minAvailable).toBe(1);
    });

    it('should stop gracefully within 30 seconds', () => {
      expect(podSpecOf(deployment).terminationGracePeriodSeconds).toBe(30);
      const preStop = container.lifecycle?.preStop?.exec?.command;
      if (preStop) expect(Number(preStop[1])).toBeLessThan(10);
    });
  });

  describe.each(['gateway', 'quota', 'delivery', 'migrate'])('the %s workload', (name) => {
    const workload = workloads.find((candidate) => commandOf(candidate) === name)!;
    const container = containerOf(workload);
    const pod = podSpecOf(workload);

    it('should set resource requests and limits', () => {
      for (const kind of ['requests', 'limits']) {
        expect(container.resources[kind]).toEqual({ cpu: expect.anything(), memory: expect.anything() });
      }
    });

    it('should run as a non-root user on a read-only root filesystem with no capabilities', () => {
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    });

    it('should take its settings from the ConfigMap and the Secret', () => {
      expect(container.envFrom).toEqual([
        { configMapRef: { name: configMap?.metadata.name } },
        { secretRef: { name: secret?.metadata.name } },
      ]);
      // Service links would inject QUOTA_PORT=tcp://... for the Service named quota.
      expect(pod.enableServiceLinks).toBe(false);
    });

    it('should find every variable its config class reads in the ConfigMap, the Secret or its own env', () => {
      const readable = settingsOf(workload);
      const missing = declaredVariables(CONFIG_OF_COMMAND[name]).filter((variable) => readable[variable] === undefined);

      expect(missing).toEqual([]);
    });

    it('should start with the ConfigMap once the Secret holds real values, and refuse the placeholders', () => {
      const cls = CONFIG_OF_COMMAND[name];

      expect(() => loadConfig(cls, { ...configMap?.data, ...REAL_SECRETS })).not.toThrow();
      if (name === 'gateway' || name === 'quota') {
        expect(() => loadConfig(cls, settingsOf(workload))).toThrow(ConfigError);
      }
    });

    it('should use the same image as every other workload', () => {
      const images = new Set(workloads.map((other) => containerOf(other).image));
      expect(images).toEqual(new Set([container.image]));
    });
  });

  it('should give the ports in the ConfigMap to the containers and point the gateway at the quota Service', () => {
    const quota = containerOf(named('Deployment', 'quota')!);
    const quotaService = named('Service', 'quota')!;

    expect(resolvePort(quota.ports, 'rpc')).toBe(Number(settings.QUOTA_PORT));
    expect(settings.QUOTA_HOST).toBe(quotaService.metadata.name);
    expect(quotaService.spec.ports).toEqual(
      expect.arrayContaining([expect.objectContaining({ port: Number(settings.QUOTA_PORT), targetPort: 'rpc' })]),
    );
  });

  describe('NetworkPolicies', () => {
    const policies = ofKind('NetworkPolicy');
    // The pods of this namespace, by what they run: the three services and the migration Job.
    const pods = workloads.map((workload) => ({
      component: commandOf(workload),
      labels: workload.spec.template.metadata.labels as Labels,
      ports: (containerOf(workload).ports ?? []) as ContainerPort[],
    }));
    const selected = (policy: K8sObject) => pods.filter((pod) => selectorMatches(policy.spec.podSelector, pod.labels));
    const portOf = (url: string | undefined): number => Number(new URL(url ?? '').port);

    /** A peer as a test can read it: "anywhere", "namespace monitoring", "pods gateway", "ip", ... */
    function peerOf(peer: PolicyPeer): string {
      if (peer.ipBlock) return 'ip';
      const namespaceName = peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
      if (peer.namespaceSelector && peer.podSelector) {
        return `namespace ${namespaceName} pods ${JSON.stringify(peer.podSelector.matchLabels)}`;
      }
      if (peer.namespaceSelector) return `namespace ${namespaceName}`;
      const components = pods.filter((pod) => selectorMatches(peer.podSelector!, pod.labels)).map((pod) => pod.component);
      return `pods ${components.join(',') || '(none)'}`;
    }
    const peersOf = (rule: PolicyRule, direction: 'from' | 'to'): string[] =>
      rule[direction]?.length ? rule[direction].map(peerOf) : ['anywhere'];
    const rulesOf = (policy: K8sObject, type: 'Ingress' | 'Egress'): PolicyRule[] =>
      policy.spec.policyTypes.includes(type) ? (policy.spec[type.toLowerCase()] ?? []) : [];

    /** For each pod port, "component/port": every policy and peer that admits traffic to it. */
    function ingressCoverage(): Record<string, string[]> {
      const coverage: Record<string, string[]> = {};
      for (const pod of pods) for (const port of pod.ports) coverage[`${pod.component}/${port.name}`] = [];
      for (const policy of policies) {
        for (const rule of rulesOf(policy, 'Ingress')) {
          for (const pod of selected(policy)) {
            const ports = rule.ports ? rule.ports.map((entry) => entry.port!) : pod.ports.map((entry) => entry.name!);
            for (const port of ports) {
              const name = pod.ports.find((entry) => entry.name === port || entry.containerPort === port)?.name;
              const key = `${pod.component}/${name ?? `${port} (no such port)`}`;
              coverage[key] = [
                ...(coverage[key] ?? []),
                ...peersOf(rule, 'from').map((peer) => `${policy.metadata.name}: ${peer}`),
              ];
            }
          }
        }
      }
      return Object.fromEntries(Object.entries(coverage).map(([key, peers]) => [key, peers.sort()]));
    }

    /** For each pod, where it may connect: "policy: peer port/protocol". */
    function egressOf(component: string): string[] {
      const pod = pods.find((candidate) => candidate.component === component)!;
      return policies
        .filter((policy) => selectorMatches(policy.spec.podSelector, pod.labels))
        .flatMap((policy) =>
          rulesOf(policy, 'Egress').flatMap((rule) => {
            const ports = (rule.ports ?? []).map((entry) => `${entry.port}/${entry.protocol ?? 'TCP'}`).join(',') || 'all';
            return peersOf(rule, 'to').map((peer) => `${policy.metadata.name}: ${peer} ${ports}`);
          }),
        )
        .sort();
    }

    it('should deny every ingress and egress in the namespace unless a policy allows it', () => {
      const denyAll = policies.filter(
        (policy) => Object.keys(policy.spec.podSelector).length === 0 && !policy.spec.ingress && !policy.spec.egress,
      );

      expect(denyAll.map((policy) => [policy.metadata.name, policy.spec.policyTypes])).toEqual([
        ['default-deny', ['Ingress', 'Egress']],
      ]);
      for (const policy of policies) expect(policy.spec.policyTypes).toEqual(expect.any(Array));
    });

    it('should admit each port a pod exposes from exactly the intended peers', () => {
      expect(ingressCoverage()).toEqual({
        'gateway/http': ['gateway-ingress-public: anywhere', 'ingress-from-monitoring: namespace monitoring'],
        'gateway/internal': [
          'gateway-ingress-internal: namespace monitoring',
          'gateway-ingress-internal: namespace xblmsg-admin-tools',
        ],
        'quota/rpc': ['quota-ingress-rpc-from-gateway: pods gateway'],
        'quota/http': ['ingress-from-monitoring: namespace monitoring'],
        'delivery/http': ['ingress-from-monitoring: namespace monitoring'],
      });
    });

    it("should admit quota's RPC port from the gateway Deployment's pods alone, in this namespace", () => {
      const policy = named('NetworkPolicy', 'quota-ingress-rpc-from-gateway')!;
      const [rule] = policy.spec.ingress as PolicyRule[];
      const gatewayPods = named('Deployment', 'gateway')!.spec.template.metadata.labels;

      expect(selected(policy).map((pod) => pod.component)).toEqual(['quota']);
      expect(resolvePort(containerOf(named('Deployment', 'quota')!).ports, rule.ports![0].port!)).toBe(
        Number(settings.QUOTA_PORT),
      );
      expect(rule.from).toEqual([{ podSelector: { matchLabels: expect.any(Object) } }]);
      expect(selects(rule.from![0].podSelector!.matchLabels!, gatewayPods)).toBe(true);
      expect(deploymentsSelectedBy(rule.from![0].podSelector!.matchLabels!, namespace).map((d) => d.metadata.name)).toEqual([
        'gateway',
      ]);
    });

    it('should let each pod connect only where it needs to: DNS, quota, Redis, Postgres', () => {
      const quotaPort = `${settings.QUOTA_PORT}/TCP`;
      const redis = `egress-redis: ip ${portOf(secret?.stringData?.REDIS_URL)}/TCP`;
      // The server's port (DATABASE_URL as shipped) and PgBouncer's (docs/operations.md, "Behind PgBouncer").
      const postgres = `egress-postgres: ip ${portOf(secret?.stringData?.DATABASE_URL)}/TCP,6432/TCP`;
      const dns = 'egress-dns: namespace kube-system pods {"k8s-app":"kube-dns"} 53/UDP,53/TCP';

      expect(Object.fromEntries(pods.map((pod) => [pod.component, egressOf(pod.component)]))).toEqual({
        gateway: [
          dns,
          postgres,
          redis,
          'gateway-egress-jwks: ip 443/TCP',
          `gateway-egress-quota: pods quota ${quotaPort}`,
        ].sort(),
        quota: [dns, redis].sort(),
        delivery: [dns, postgres, redis].sort(),
        migrate: [dns, postgres].sort(),
      });
    });

    it('should mark every address placeholder CHANGE ME', () => {
      const lines = readText(named('NetworkPolicy', 'default-deny')!.file).split('\n');
      const addresses = lines.filter((line) => /\bcidr:|kubernetes\.io\/metadata\.name: monitoring/.test(line));

      expect(addresses.length).toBeGreaterThanOrEqual(4);
      for (const line of addresses) expect(line).toContain('# CHANGE ME');
    });

    it('should catch a schema violation in a NetworkPolicy (the schema step is live)', () => {
      const policy = named('NetworkPolicy', 'egress-redis')!;
      const broken = { ...policy, spec: { ...policy.spec, policyTypes: 'Egress' } };

      expect(schemaErrors(broken)).toEqual([expect.stringContaining('policyTypes')]);
    });
  });

  it('should expose the gateway on port 80', () => {
    const gateway = named('Service', 'gateway')!;

    expect(gateway.spec.ports).toEqual([expect.objectContaining({ port: 80, targetPort: 'http' })]);
  });

  describe('the internal surfaces (/admin, /metrics, /docs)', () => {
    const gateway = containerOf(named('Deployment', 'gateway')!);

    it('should listen on the internal port on every interface of the pod, apart from the public one', () => {
      expect(settings.INTERNAL_LISTENER).toBe('true');
      expect(settings.INTERNAL_HOST).toBe('0.0.0.0');
      expect(resolvePort(gateway.ports, 'internal')).toBe(Number(settings.INTERNAL_PORT));
      expect(settings.INTERNAL_PORT).not.toBe(settings.PORT);
    });

    it('should reach the internal port only through the ClusterIP Service gateway-internal', () => {
      const internal = named('Service', 'gateway-internal')!;

      expect(internal.spec.type).toBe('ClusterIP');
      expect(internal.spec.ports).toEqual([
        expect.objectContaining({ port: Number(settings.INTERNAL_PORT), targetPort: 'internal' }),
      ]);
      const elsewhere = ofKind('Service')
        .filter((service) => service !== internal)
        .flatMap((service) => service.spec.ports.filter((port: { targetPort: unknown }) => port.targetPort === 'internal'));
      expect(elsewhere).toEqual([]);
    });

    it('should pass inbox event streams through the Ingress unbuffered, without cutting them between heartbeats', () => {
      const [ingress] = ofKind('Ingress');
      const annotations = ingress.metadata.annotations ?? {};
      const heartbeat = Number(settings.INBOX_STREAM_HEARTBEAT_SECONDS);

      expect(heartbeat).toBeGreaterThan(0);
      expect(annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
      expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(2 * heartbeat);
      expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(2 * heartbeat);
    });

    it('should route the Ingress to the player API on the public port only', () => {
      const ingresses = ofKind('Ingress');
      const backends = ingresses.flatMap((ingress) => [
        ...(ingress.spec.defaultBackend ? [{ path: '(default)', backend: ingress.spec.defaultBackend }] : []),
        ...ingress.spec.rules.flatMap((rule: any) =>
          rule.http.paths.map((path: any) => ({ path: path.path, backend: path.backend })),
        ),
      ]);

      expect(ingresses).toHaveLength(1);
      expect(backends).toEqual([{ path: '/users/', backend: { service: { name: 'gateway', port: { name: 'http' } } } }]);
      expect(readText(ingresses[0].file)).toContain('CHANGE ME');
    });
  });

  it('should run the migrations as a Job that retries a few times and cleans up after itself', () => {
    const job = named('Job', 'migrate')!;

    expect(commandOf(job)).toBe('migrate');
    expect(entrypointCommands().has('migrate')).toBe(true);
    expect(job.spec.backoffLimit).toBeGreaterThan(0);
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(['Never', 'OnFailure']).toContain(podSpecOf(job).restartPolicy);
  });

  it('should run the migrations on DATABASE_URL by default and on DATABASE_MIGRATION_URL once the Secret sets it', () => {
    const job = named('Job', 'migrate')!;
    // The Secret's commented PgBouncer example, uncommented as an operator would.
    const example = readText(secret!.file)
      .split('\n')
      .map((line) => /^\s*#\s*(DATABASE_(?:MIGRATION|READ)_URL): (\S+)$/.exec(line))
      .filter((match) => match !== null)
      .map((match) => [match[1], match[2].replace('PASSWORD', 's3cret')] as const);
    const pooled = {
      ...settingsOf(job),
      ...REAL_SECRETS,
      DATABASE_URL: 'postgres://xblmsg:s3cret@pgbouncer.internal:6432/xblmsg',
    };

    expect(example.map(([variable]) => variable)).toEqual(['DATABASE_MIGRATION_URL', 'DATABASE_READ_URL']);
    expect(envOf(job).map((entry) => entry.name)).not.toContain('DATABASE_URL');
    expect(
      loadConfig(CONFIG_OF_COMMAND.migrate, { ...settingsOf(job), ...REAL_SECRETS }).DATABASE_MIGRATION_URL,
    ).toBeUndefined();
    expect(loadConfig(CONFIG_OF_COMMAND.migrate, { ...pooled, ...Object.fromEntries(example) }).DATABASE_MIGRATION_URL).toBe(
      'postgres://xblmsg:s3cret@postgres.example.internal:5432/xblmsg',
    );
  });

  it('should autoscale the gateway on CPU', () => {
    const hpa = ofKind('HorizontalPodAutoscaler').find((candidate) => !candidate.file.startsWith(AUTOSCALING_DIR))!;

    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'gateway' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: expect.objectContaining({ type: 'Utilization' }) } },
    ]);
  });

  describe('delivery autoscaling', () => {
    const scalers = objects.filter(
      (object) =>
        (object.kind === 'ScaledObject' || object.kind === 'HorizontalPodAutoscaler') &&
        object.spec.scaleTargetRef.name === 'delivery',
    );

    const scaledObjects = scalers.filter((scaler) => scaler.kind === 'ScaledObject');
    const triggerOf = (type: string) =>
      scaledObjects.map((scaler) => scaler.spec.triggers[0]).find((trigger) => trigger.type === type);

    it('should offer KEDA on one Redis, KEDA on a Redis Cluster and an External-metric HPA as alternatives in separate directories', () => {
      const directories = scalers.map((scaler) => dirname(scaler.file));

      expect(scalers.map((scaler) => scaler.kind).sort()).toEqual(['HorizontalPodAutoscaler', 'ScaledObject', 'ScaledObject']);
      expect(new Set(directories).size).toBe(3);
      for (const directory of directories) expect(directory.startsWith(AUTOSCALING_DIR)).toBe(true);
    });

    it.each(['redis', 'redis-cluster'])(
      'should have KEDA (%s) watch the BullMQ wait list under the ConfigMap REDIS_PREFIX',
      (type) => {
        const scaledObject = scaledObjects.find((scaler) => scaler.spec.triggers[0].type === type)!;
        const [trigger] = scaledObject.spec.triggers;

        expect(scaledObject.apiVersion).toBe('keda.sh/v1alpha1');
        expect(scaledObject.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'delivery' });
        expect(scaledObject.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
        expect(scaledObject.spec.maxReplicaCount).toBeGreaterThan(scaledObject.spec.minReplicaCount);
        expect(scaledObject.spec.triggers).toHaveLength(1);
        // On a cluster BullMQ's prefix is the hash tag {REDIS_PREFIX} (queuePrefix), so the list is named so too.
        const prefix = queuePrefix({
          REDIS_PREFIX: settings.REDIS_PREFIX,
          REDIS_CLUSTER_NODES: type === 'redis-cluster' ? 'redis-0:6379' : undefined,
        });
        expect(trigger.metadata.listName).toBe(`${prefix}:${DELIVERY_QUEUE}:wait`);
        expect(Number(trigger.metadata.listLength)).toBeGreaterThan(0);
      },
    );

    it('should give the single-node trigger an address and the cluster trigger a seed list of host:port', () => {
      expect(triggerOf('redis')?.metadata.address).toMatch(/^[\w.-]+:\d+$/);
      expect(triggerOf('redis')?.metadata.addresses).toBeUndefined();
      const seeds = String(triggerOf('redis-cluster')?.metadata.addresses).split(',');
      expect(seeds.length).toBeGreaterThanOrEqual(3);
      for (const seed of seeds) expect(seed.trim()).toMatch(/^[\w.-]+:\d+$/);
      // A cluster has no database numbers: the scaler refuses one.
      expect(triggerOf('redis-cluster')?.metadata.databaseIndex).toBeUndefined();
    });

    it.each(['redis', 'redis-cluster'])(
      'should authenticate KEDA (%s) with a TriggerAuthentication and Secret defined beside it',
      (type) => {
        const scaledObject = scaledObjects.find((scaler) => scaler.spec.triggers[0].type === type)!;
        const name = scaledObject.spec.triggers[0].authenticationRef?.name;
        const auth = named('TriggerAuthentication', name);

        expect(auth?.file).toBe(scaledObject.file);
        for (const ref of auth?.spec.secretTargetRef ?? []) {
          const target = named('Secret', ref.name);
          expect(target?.file).toBe(scaledObject.file);
          expect(target?.stringData).toHaveProperty(ref.key);
        }
      },
    );

    it('should have the plain HPA scale on the waiting jobs of the delivery_queue_jobs metric', () => {
      const hpa = scalers.find((scaler) => scaler.kind === 'HorizontalPodAutoscaler')!;

      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'delivery' });
      expect(hpa.spec.metrics).toEqual([
        {
          type: 'External',
          external: {
            metric: { name: 'delivery_queue_jobs', selector: { matchLabels: { state: 'waiting' } } },
            target: expect.objectContaining({ type: 'AverageValue' }),
          },
        },
      ]);
    });
  });
});
