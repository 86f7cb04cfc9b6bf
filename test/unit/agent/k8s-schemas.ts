/**
 * JSON Schemas for the Kubernetes kinds in examples/kubernetes, transcribed from the Kubernetes
 * API reference (core/v1, apps/v1, rbac/v1, apiextensions/v1) for the fields those manifests may
 * use. Every object is closed (additionalProperties: false), as `kubeconform -strict` checks: a
 * misspelt or misplaced field fails instead of being dropped silently by the API server.
 */
type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
const int: Schema = { type: 'integer' };
const strList: Schema = { type: 'array', items: str };
const strMap: Schema = { type: 'object', additionalProperties: str };
const intOrString: Schema = { anyOf: [{ type: 'integer' }, { type: 'string' }] };
const DNS_SUBDOMAIN = '^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const DNS_LABEL = '^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const QUANTITY = '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$';

const closed = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...(required.length ? { required } : {}),
});

const objectMeta = closed(
  {
    name: { type: 'string', pattern: DNS_SUBDOMAIN },
    namespace: { type: 'string', pattern: DNS_LABEL },
    labels: strMap,
    annotations: strMap,
  },
  ['name'],
);

function kind(
  apiVersion: string,
  kindName: string,
  properties: Record<string, Schema>,
  required: string[] = [],
): Schema {
  return closed({ apiVersion: { const: apiVersion }, kind: { const: kindName }, metadata: objectMeta, ...properties }, [
    'apiVersion',
    'kind',
    'metadata',
    ...required,
  ]);
}

const labelSelector = closed({
  matchLabels: strMap,
  matchExpressions: {
    type: 'array',
    items: closed({ key: str, operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }, values: strList }, [
      'key',
      'operator',
    ]),
  },
});

const probe = closed({
  httpGet: closed({ path: str, port: intOrString, host: str, scheme: { enum: ['HTTP', 'HTTPS'] } }, ['port']),
  tcpSocket: closed({ port: intOrString, host: str }, ['port']),
  exec: closed({ command: strList }),
  initialDelaySeconds: int,
  periodSeconds: int,
  timeoutSeconds: int,
  failureThreshold: int,
  successThreshold: int,
});

const resourceMap: Schema = {
  type: 'object',
  additionalProperties: { type: 'string', pattern: QUANTITY },
  propertyNames: { enum: ['cpu', 'memory', 'ephemeral-storage'] },
};

const container = closed(
  {
    name: { type: 'string', pattern: DNS_LABEL },
    image: str,
    imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
    command: strList,
    args: strList,
    workingDir: str,
    env: {
      type: 'array',
      items: closed(
        {
          name: str,
          value: str,
          valueFrom: closed({
            fieldRef: closed({ fieldPath: str, apiVersion: str }, ['fieldPath']),
            configMapKeyRef: closed({ name: str, key: str, optional: bool }, ['key']),
            secretKeyRef: closed({ name: str, key: str, optional: bool }, ['key']),
          }),
        },
        ['name'],
      ),
    },
    ports: {
      type: 'array',
      items: closed(
        {
          name: { type: 'string', maxLength: 15 },
          containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
          hostPort: int,
          protocol: { enum: ['TCP', 'UDP', 'SCTP'] },
        },
        ['containerPort'],
      ),
    },
    livenessProbe: probe,
    readinessProbe: probe,
    startupProbe: probe,
    resources: closed({ requests: resourceMap, limits: resourceMap }),
    securityContext: closed({
      privileged: bool,
      allowPrivilegeEscalation: bool,
      runAsUser: int,
      runAsNonRoot: bool,
      readOnlyRootFilesystem: bool,
      capabilities: closed({ add: strList, drop: strList }),
    }),
    volumeMounts: {
      type: 'array',
      items: closed(
        {
          name: str,
          mountPath: str,
          readOnly: bool,
          subPath: str,
          mountPropagation: { enum: ['None', 'HostToContainer', 'Bidirectional'] },
        },
        ['name', 'mountPath'],
      ),
    },
  },
  ['name', 'image'],
);

const volume = closed(
  {
    name: { type: 'string', pattern: DNS_LABEL },
    hostPath: closed(
      {
        path: str,
        type: {
          enum: ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'],
        },
      },
      ['path'],
    ),
    configMap: closed({
      name: str,
      defaultMode: int,
      optional: bool,
      items: { type: 'array', items: closed({ key: str, path: str, mode: int }, ['key', 'path']) },
    }),
    emptyDir: closed({ medium: str, sizeLimit: str }),
  },
  ['name'],
);

const podSpec = closed(
  {
    containers: { type: 'array', minItems: 1, items: container },
    initContainers: { type: 'array', items: container },
    volumes: { type: 'array', items: volume },
    serviceAccountName: { type: 'string', pattern: DNS_SUBDOMAIN },
    priorityClassName: str,
    hostNetwork: bool,
    hostPID: bool,
    hostIPC: bool,
    dnsPolicy: { enum: ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] },
    terminationGracePeriodSeconds: int,
    nodeSelector: strMap,
    tolerations: {
      type: 'array',
      items: closed({
        key: str,
        operator: { enum: ['Exists', 'Equal'] },
        value: str,
        effect: { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
        tolerationSeconds: int,
      }),
    },
  },
  ['containers'],
);

export const K8S_SCHEMAS: Record<string, Schema> = {
  'v1/ServiceAccount': kind('v1', 'ServiceAccount', { automountServiceAccountToken: bool }),
  'v1/ConfigMap': kind('v1', 'ConfigMap', { data: strMap, immutable: bool }),
  'rbac.authorization.k8s.io/v1/ClusterRole': kind('rbac.authorization.k8s.io/v1', 'ClusterRole', {
    rules: {
      type: 'array',
      items: closed(
        {
          apiGroups: strList,
          resources: strList,
          resourceNames: strList,
          nonResourceURLs: strList,
          verbs: { type: 'array', minItems: 1, items: str },
        },
        ['verbs'],
      ),
    },
  }),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': kind(
    'rbac.authorization.k8s.io/v1',
    'ClusterRoleBinding',
    {
      roleRef: closed(
        { apiGroup: { const: 'rbac.authorization.k8s.io' }, kind: { enum: ['ClusterRole', 'Role'] }, name: str },
        ['apiGroup', 'kind', 'name'],
      ),
      subjects: {
        type: 'array',
        items: closed(
          { kind: { enum: ['ServiceAccount', 'User', 'Group'] }, name: str, namespace: str, apiGroup: str },
          ['kind', 'name'],
        ),
      },
    },
    ['roleRef'],
  ),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': kind(
    'apiextensions.k8s.io/v1',
    'CustomResourceDefinition',
    {
      spec: closed(
        {
          group: { type: 'string', pattern: DNS_SUBDOMAIN },
          scope: { enum: ['Namespaced', 'Cluster'] },
          names: closed(
            {
              plural: { type: 'string', pattern: DNS_LABEL },
              singular: { type: 'string', pattern: DNS_LABEL },
              kind: { type: 'string', pattern: '^[A-Z][A-Za-z0-9]*$' },
              listKind: str,
              shortNames: strList,
              categories: strList,
            },
            ['plural', 'kind'],
          ),
          versions: {
            type: 'array',
            minItems: 1,
            items: closed(
              {
                name: str,
                served: bool,
                storage: bool,
                deprecated: bool,
                schema: closed({ openAPIV3Schema: { type: 'object' } }, ['openAPIV3Schema']),
              },
              ['name', 'served', 'storage'],
            ),
          },
        },
        ['group', 'scope', 'names', 'versions'],
      ),
    },
    ['spec'],
  ),
  'apps/v1/DaemonSet': kind(
    'apps/v1',
    'DaemonSet',
    {
      spec: closed(
        {
          selector: labelSelector,
          template: closed({ metadata: closed({ labels: strMap, annotations: strMap }), spec: podSpec }, ['spec']),
          updateStrategy: closed({
            type: { enum: ['RollingUpdate', 'OnDelete'] },
            rollingUpdate: closed({ maxUnavailable: intOrString, maxSurge: intOrString }),
          }),
          minReadySeconds: int,
          revisionHistoryLimit: int,
        },
        ['selector', 'template'],
      ),
    },
    ['spec'],
  ),
};
