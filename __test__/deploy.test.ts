// The Kubernetes manifests in deploy/: every object is valid against the Kubernetes API's own
// schema (kubernetes-models, generated from the API's OpenAPI spec), only the device-plugin
// DaemonSet is privileged, the application pods have no capability and no way to gain one, and
// every name, path and key that joins the manifests to `fastlane device-plugin` and to the
// application configs is the one the code uses (taken from src-ts/device-plugin/, not retyped).

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import type { IIoK8sApiCoreV1Container as Container } from 'kubernetes-models/v1/Container';
import type { IIoK8sApiCoreV1PodSpec as PodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IIoK8sApiCoreV1Volume as Volume } from 'kubernetes-models/v1/Volume';

import { DEFAULTS, devicePluginConfigIssues, parseDevicePluginConfig, type DevicePluginConfig } from '../src-ts/device-plugin/config';
import { validateConfig } from '../src-ts/validate';
import { ROOT } from './helpers';

const DEPLOY = path.join(ROOT, 'deploy');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** The image scripts/container-image builds by default. */
const IMAGE = `localhost/fastlane:${VERSION}`;
const PLUGIN = { namespace: 'fastlane-system', name: 'fastlane-device-plugin' };

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: { template?: { metadata?: K8sObject['metadata']; spec: PodSpec } } & Partial<PodSpec>;
  [field: string]: unknown;
}

interface Manifest {
  file: string;
  object: K8sObject;
}

/** Multus's NetworkAttachmentDefinition (k8s.cni.cncf.io/v1), which kubernetes-models lacks. */
const NAD = { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition' };

/**
 * The host-device CNI config of a NetworkAttachmentDefinition: the netdev it moves into the pod,
 * and the addresses its static IPAM gives it there.
 */
function hostDevice(nad: K8sObject): { device: string; addresses: string[] } {
  const spec = nad.spec as unknown as { config?: unknown };
  if (typeof spec?.config !== 'string') {
    throw new Error(`${nad.metadata.name}: spec.config is a CNI config as a JSON string`);
  }
  const config = JSON.parse(spec.config) as {
    cniVersion?: unknown;
    type?: unknown;
    device?: unknown;
    ipam?: { type?: unknown; addresses?: { address?: unknown }[] };
  };
  if (typeof config.cniVersion !== 'string' || config.type !== 'host-device' || typeof config.device !== 'string') {
    throw new Error(`${nad.metadata.name}: a host-device CNI config { cniVersion, type: "host-device", device } is expected`);
  }
  const addresses = (config.ipam?.type === 'static' ? config.ipam.addresses ?? [] : []).map((a) => a.address);
  if (!addresses.every((a): a is string => typeof a === 'string')) {
    throw new Error(`${nad.metadata.name}: ipam.addresses[].address are CIDR strings`);
  }
  return { device: config.device, addresses };
}

/** A UPF config's validator, where this tree has the UPF application (apps/upf/src/config.ts). */
function upfValidator(): ((doc: unknown) => { path: string; message: string }[]) | undefined {
  const file = path.join(ROOT, 'apps', 'upf', 'src', 'config.ts');
  if (!fs.existsSync(file)) {
    return undefined;
  }
  return (require(file) as { validateUpfConfig: (doc: unknown) => { path: string; message: string }[] }).validateUpfConfig;
}

interface AppPort {
  interface: string;
  queues: unknown[];
  addresses?: string[];
}

/** The ports of an application config: a Fastlane config's, or a UPF config's N3 and N6. */
function appPorts(doc: { ports?: AppPort[]; upf?: { n3: AppPort; n6: AppPort } }): AppPort[] {
  return doc.upf === undefined ? doc.ports ?? [] : [doc.upf.n3, doc.upf.n6];
}

/** The Kubernetes API schema's check of one object (throws naming the JSON path of each error). */
function validateAgainstApi(object: K8sObject): void {
  if (object.apiVersion === NAD.apiVersion && object.kind === NAD.kind) {
    hostDevice(object);
    return;
  }
  // kubernetes-models lays its models out as GROUP/VERSION/KIND ("v1/Pod", "apps/v1/DaemonSet").
  const models = require(`kubernetes-models/${object.apiVersion}/${object.kind}`) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[object.kind];
  if (Model === undefined) {
    throw new Error(`kubernetes-models has no ${object.apiVersion} ${object.kind}`);
  }
  new Model(object).validate();
}

function load(): Manifest[] {
  const files = fs.readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')).sort();
  return files.flatMap((file) =>
    yaml.loadAll(fs.readFileSync(path.join(DEPLOY, file), 'utf8')).map((object) => {
      if (typeof object !== 'object' || object === null) {
        throw new Error(`${file}: a YAML document that is not an object: ${JSON.stringify(object)}`);
      }
      return { file, object: object as K8sObject };
    }),
  );
}

const manifests = load();

/** Every workload's pod spec: a Pod's own, or the template of a Deployment, DaemonSet, etc. */
function podSpecs(): { where: string; object: K8sObject; spec: PodSpec }[] {
  return manifests.flatMap(({ file, object }) => {
    const spec = object.kind === 'Pod' ? (object.spec as PodSpec | undefined) : object.spec?.template?.spec;
    return spec === undefined ? [] : [{ where: `${file}: ${object.kind} ${object.metadata.name}`, object, spec }];
  });
}

const containersOf = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers];

function find(kind: string, name: string, namespace?: string): K8sObject {
  const hit = manifests.find(
    ({ object: o }) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace),
  );
  if (hit === undefined) {
    throw new Error(`deploy/ has no ${kind} ${namespace === undefined ? '' : `${namespace}/`}${name}`);
  }
  return hit.object;
}

/** The ConfigMap key a container's `--config FILE` or positional config file names, and its text. */
function configFile(object: K8sObject, spec: PodSpec, container: Container, file: string): { key: string; text: string } {
  const mount = (container.volumeMounts ?? []).find((m) => m.mountPath === path.posix.dirname(file));
  if (mount === undefined) {
    throw new Error(`${container.name}: nothing is mounted at ${path.posix.dirname(file)} for ${file}`);
  }
  const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
  const configMapName = volume?.configMap?.name;
  if (configMapName === undefined) {
    throw new Error(`${container.name}: ${mount.mountPath} is not a ConfigMap volume`);
  }
  const configMap = find('ConfigMap', configMapName, object.metadata.namespace);
  const key = path.posix.basename(file);
  const text = configMap.data?.[key];
  if (text === undefined) {
    throw new Error(`ConfigMap ${configMapName} has no key ${key} (it has ${Object.keys(configMap.data ?? {}).join(', ')})`);
  }
  return { key, text };
}

interface Plugin {
  config: DevicePluginConfig;
  container: Container;
}

/** The DaemonSet and each of its `fastlane device-plugin` containers with its config. */
function plugins(): { daemonSet: K8sObject; spec: PodSpec; plugins: Plugin[] } {
  const daemonSet = find('DaemonSet', PLUGIN.name, PLUGIN.namespace);
  const spec = daemonSet.spec!.template!.spec;
  const found = spec.containers.filter((c) => c.args?.[0] === 'device-plugin').map((container) => {
    const args = container.args!;
    const at = args.indexOf('--config');
    const file = args[at + 1];
    if (at < 0 || file === undefined) {
      throw new Error(`${container.name}: device-plugin args ${JSON.stringify(args)} name no --config FILE`);
    }
    const doc: unknown = JSON.parse(configFile(daemonSet, spec, container, file).text);
    return { config: parseDevicePluginConfig(doc, file), container };
  });
  return { daemonSet, spec, plugins: found };
}

/** Whether anything in a pod spec gives it a privilege an application pod must not have. */
function privileges(spec: PodSpec): string[] {
  const found: string[] = [];
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (spec[field] === true) {
      found.push(field);
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v.hostPath !== undefined) {
      found.push(`hostPath volume ${v.name} (${v.hostPath.path})`);
    }
  }
  for (const c of containersOf(spec)) {
    const sc = c.securityContext;
    if (sc?.privileged === true) {
      found.push(`${c.name}: privileged`);
    }
    if ((sc?.capabilities?.add ?? []).length > 0) {
      found.push(`${c.name}: adds capabilities ${sc!.capabilities!.add!.join(', ')}`);
    }
    if (sc?.allowPrivilegeEscalation !== false) {
      found.push(`${c.name}: allowPrivilegeEscalation is not false`);
    }
    if (!(sc?.capabilities?.drop ?? []).includes('ALL')) {
      found.push(`${c.name}: does not drop ALL capabilities`);
    }
  }
  return found;
}

test('deploy/ holds the plugin, macswap and UPF manifests, and every object is valid against the Kubernetes API schema', (t) => {
  t.deepEqual(fs.readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')).sort(), ['device-plugin.yaml', 'macswap.yaml', 'upf.yaml']);
  for (const { file, object } of manifests) {
    t.notThrows(() => validateAgainstApi(object), `${file}: ${object.kind} ${object.metadata.name}`);
  }
  // The check can fail: a uid that is not an integer, a missing container image.
  const daemonSet = structuredClone(find('DaemonSet', PLUGIN.name, PLUGIN.namespace));
  daemonSet.spec!.template!.spec.containers[0]!.securityContext!.runAsUser = 'nobody' as unknown as number;
  t.throws(() => validateAgainstApi(daemonSet), { message: /runAsUser must be integer/ });
  const pod = structuredClone(find('Deployment', 'fastlane-macswap'));
  delete (pod.spec!.template!.spec as Partial<PodSpec>).containers;
  t.throws(() => validateAgainstApi(pod), { message: /containers/ });
});

test('only the device-plugin DaemonSet is privileged; every other pod runs as nobody with no capability and no escalation', (t) => {
  const specs = podSpecs();
  t.true(specs.length >= 3, 'the plugin, macswap and the UPF');
  const privileged = specs.filter(({ spec }) => privileges(spec).length > 0).map(({ object: o }) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
  t.deepEqual(privileged, [`DaemonSet ${PLUGIN.namespace}/${PLUGIN.name}`]);
  for (const { where, object, spec } of specs) {
    if (object.kind === 'DaemonSet' && object.metadata.name === PLUGIN.name) {
      continue;
    }
    t.deepEqual(privileges(spec), [], where);
    t.like(spec.securityContext, { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } }, where);
    t.not(spec.automountServiceAccountToken, true, `${where}: no API token`);
    for (const c of containersOf(spec)) {
      t.like(c.securityContext, {
        runAsNonRoot: true,
        runAsUser: 65534,
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
      }, `${where}: ${c.name}`);
      t.deepEqual(c.securityContext?.capabilities, { drop: ['ALL'] }, `${where}: ${c.name}`);
    }
  }
  // The check sees a privilege given back: a capability added, or the host's network.
  const widened = structuredClone(find('Deployment', 'fastlane-macswap').spec!.template!.spec);
  widened.containers[0]!.securityContext!.capabilities!.add = ['NET_RAW'];
  widened.hostNetwork = true;
  t.deepEqual(privileges(widened), ['hostNetwork', 'macswap: adds capabilities NET_RAW']);
});

test('the DaemonSet\'s plugins mount exactly where their configs (with defaults) say, at the same paths as on the host', (t) => {
  const { daemonSet, spec, plugins: found } = plugins();
  t.deepEqual(spec.containers.map((c) => c.name), found.map((p) => p.container.name), 'every container is a plugin');
  t.deepEqual(found.map((p) => p.config.resource_name), ['fastlane.io/af_xdp', 'fastlane.io/upf']);
  t.is(daemonSet.metadata.namespace, PLUGIN.namespace);
  t.true(spec.hostNetwork, 'the devices are the node\'s NICs, in the node\'s network namespace');
  t.true(spec.hostPID, 'SO_PEERCRED pids and /proc/PID/ns/net of pods are the host\'s');
  // Two processes on one state directory would overwrite each other's allocations.
  t.is(new Set(found.map((p) => p.config.state_dir)).size, found.length, 'a state_dir each');
  for (const { config, container } of found) {
    t.deepEqual(devicePluginConfigIssues(JSON.parse(JSON.stringify(config))), [], container.name);
    t.is(container.securityContext?.privileged, true, container.name);
    t.is(container.image, IMAGE, container.name);
    const hostPathAt = (mountPath: string): string | undefined => {
      const mount = (container.volumeMounts ?? []).find((m) => m.mountPath === mountPath);
      const volume: Volume | undefined = (spec.volumes ?? []).find((v) => v.name === mount?.name);
      return volume?.hostPath?.path;
    };
    // The kubelet's directory and the state directory are host paths the plugin names to the
    // kubelet (its endpoint; Allocate's host_path), so they must be the same inside and outside.
    for (const key of ['kubelet_dir', 'state_dir'] as const) {
      t.is(hostPathAt(config[key]), config[key], `${container.name}: ${key} ${config[key]} is the host's ${config[key]}`);
    }
    t.is(config.kubelet_dir, DEFAULTS.kubelet_dir, 'the kubelet\'s standard device-plugins directory');
    // The runtime's own sysfs of the host network namespace: a volume over it would hide that.
    t.is(config.sysfs, DEFAULTS.sysfs);
    t.false((container.volumeMounts ?? []).some((m) => m.mountPath === config.sysfs), `${container.name}: nothing mounted over ${config.sysfs}`);
  }
});

test('each application pod requests one plugin\'s resource, leaves the kubelet\'s mount point free, and runs a valid device_plugin config on that plugin\'s interfaces', (t) => {
  const byResource = new Map(plugins().plugins.map((p) => [p.config.resource_name, p.config]));
  const apps = podSpecs().filter(({ object: o }) => o.metadata.name !== PLUGIN.name);
  t.deepEqual(apps.map(({ object: o }) => o.metadata.name).sort(), ['fastlane-macswap', 'fastlane-upf']);
  for (const { where, object, spec } of apps) {
    for (const c of spec.containers) {
      t.is(c.image, IMAGE, where);
      const limits = c.resources?.limits ?? {};
      const requests = c.resources?.requests ?? {};
      // Each allocation sets the same FASTLANE_* variables: a second resource would overwrite them.
      const resources = Object.keys(limits).filter((r) => byResource.has(r));
      t.is(resources.length, 1, `${where}: ${c.name} requests exactly one Fastlane resource (${resources.join(', ')})`);
      const plugin = byResource.get(resources[0]!);
      if (plugin === undefined) {
        continue;
      }
      t.is(requests[plugin.resource_name] ?? limits[plugin.resource_name], limits[plugin.resource_name], `${where}: an extended resource's request equals its limit`);
      t.false((c.volumeMounts ?? []).some((m) => m.mountPath === plugin.container_dir || m.mountPath.startsWith(`${plugin.container_dir}/`)),
        `${where}: the kubelet mounts the allocation's socket directory at ${plugin.container_dir}`);
      const args = c.args ?? [];
      // `fastlane run FILE ...` or `fastlane upf run FILE ...`.
      const file = args[0] === 'run' ? args[1] : args[0] === 'upf' && args[1] === 'run' ? args[2] : undefined;
      if (file === undefined) {
        t.fail(`${where}: ${c.name} runs neither \`fastlane run\` nor \`fastlane upf run\`: ${JSON.stringify(args)}`);
        continue;
      }
      const { text } = configFile(object, spec, c, file);
      const doc = JSON.parse(text) as Record<string, unknown> & Parameters<typeof appPorts>[0];
      t.deepEqual(doc.deployment, { mode: 'device_plugin' }, `${where}: ${file}`);
      t.is(doc.upf !== undefined, args[0] === 'upf', `${where}: a upf section exactly for \`fastlane upf run\``);
      if (args[0] === 'run') {
        t.deepEqual(validateConfig(doc), [], `${where}: ${file}`);
      } else {
        const validateUpf = upfValidator();
        if (validateUpf === undefined) {
          t.log(`${where}: ${file} is not validated: this tree has no apps/upf/src/config.ts`);
        } else {
          t.deepEqual(validateUpf(doc), [], `${where}: ${file}`);
        }
      }
      const ports = appPorts(doc);
      t.true(ports.length > 0, `${where}: ports`);
      const offered = new Set(plugin.interfaces.map((i) => i.name));
      for (const port of ports) {
        t.true(offered.has(port.interface), `${where}: port ${port.interface} is an interface ${plugin.resource_name} offers (${[...offered].join(', ')})`);
      }
      const queues = ports.reduce((n, p) => n + p.queues.length, 0);
      t.is(Number(limits[plugin.resource_name]), queues, `${where}: one device per queue of its config`);
      const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
      t.true(plugin.allowed_uids.length > 0 && uid !== undefined && plugin.allowed_uids.includes(uid), `${where}: uid ${uid} is one ${plugin.resource_name} hands descriptors to (${plugin.allowed_uids.join(', ')})`);
      // The plugin builds the ports in the pod's network namespace on the interfaces its config
      // names, checked against the allocation's devices: Multus must move exactly those netdevs
      // there, under the names they have on the node.
      const networks = JSON.parse(object.spec?.template?.metadata?.annotations?.['k8s.v1.cni.cncf.io/networks'] ?? '[]') as { name: string; interface?: string }[];
      const moved = networks.map((n) => {
        const nad = find(NAD.kind, n.name, object.metadata.namespace);
        const { device, addresses } = hostDevice(nad);
        t.is(n.interface, device, `${where}: network ${n.name} keeps ${device}'s name in the pod`);
        const port = ports.find((p) => p.interface === device);
        if (port?.addresses !== undefined) {
          t.deepEqual(addresses, port.addresses, `${where}: ${device} gets the addresses its config names`);
        }
        return device;
      });
      t.deepEqual(moved.sort(), ports.map((p) => p.interface).sort(), `${where}: the netdevs moved into the pod are its ports'`);
    }
  }
});
