// The kubelet-facing daemon: serves the DevicePlugin service of the kubelet's device-plugin API
// v1beta1 on a socket in the kubelet's directory and registers it with the kubelet; registers again
// whenever the kubelet comes back with a new kubelet.sock.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import type { DevicePluginConfig } from './config';
import { configuredDevices, deviceHealth, iommuGroup, preferredAllocation, type Device, type Health } from './devices';
import { HANDOFF_SOCKET, Handoffs } from './handoff';
import { AllocationStore } from './state';

/** The official api.proto (k8s.io/kubelet), from src-ts/device-plugin/ or dist/device-plugin/. */
export const API_PROTO = path.join(__dirname, '..', '..', 'deploy', 'kubelet-deviceplugin', 'v1beta1', 'api.proto');
export const API_VERSION = 'v1beta1';
export const KUBELET_SOCKET = 'kubelet.sock';
/** How often the kubelet's socket is looked at for a restart. */
const KUBELET_POLL_MS = 500;
/** How often the handoff servers' events are logged. */
const HANDOFF_LOG_MS = 200;

// The messages as proto-loader gives them with keepCase: the proto's own field names.
interface DeviceMsg { ID: string; health: Health }
interface PreferredRequest {
  container_requests: { available_deviceIDs: string[]; must_include_deviceIDs: string[]; allocation_size: number }[];
}
interface AllocateRequest { container_requests: { devices_ids: string[] }[] }
interface ContainerAllocateResponse {
  envs: Record<string, string>;
  mounts: { container_path: string; host_path: string; read_only: boolean }[];
  devices: { container_path: string; host_path: string; permissions: string }[];
}
interface PreStartRequest { devices_ids: string[] }

type ServiceDefinitions = { v1beta1: { DevicePlugin: grpc.ServiceClientConstructor; Registration: grpc.ServiceClientConstructor } };

function loadApi(): ServiceDefinitions {
  const definition = protoLoader.loadSync(API_PROTO, { keepCase: true, longs: String, defaults: true });
  return grpc.loadPackageDefinition(definition) as unknown as ServiceDefinitions;
}

/** `PCIDEVICE_<RESOURCE>` as the SR-IOV network device plugin names it: upper case, `.`/`/` as `_`. */
export function pciDeviceEnv(resourceName: string): string {
  return `PCIDEVICE_${resourceName.replace(/[./-]/g, '_').toUpperCase()}`;
}

/** The plugin's socket name in the kubelet's directory. */
export function endpointName(resourceName: string): string {
  return `fastlane-${resourceName.replace(/[^A-Za-z0-9_.-]/g, '_')}.sock`;
}

class RpcError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

export class DevicePlugin {
  readonly #config: DevicePluginConfig;
  readonly #api = loadApi();
  readonly #devices: Map<string, Device>;
  readonly #health = new Map<string, Health>();
  readonly #store: AllocationStore;
  readonly #handoffs: Handoffs;
  readonly #watchers = new Set<grpc.ServerWritableStream<unknown, { devices: DeviceMsg[] }>>();
  readonly #log: (line: string) => void;
  #server: grpc.Server | undefined;
  /** The kubelet.sock (device and inode) registered with last; undefined until registered. */
  #registeredWith: string | undefined;
  #timers: NodeJS.Timeout[] = [];
  #busy = false;
  #stopping = false;

  constructor(config: DevicePluginConfig, log: (line: string) => void) {
    this.#config = config;
    this.#log = log;
    this.#devices = new Map(configuredDevices(config).map((d) => [d.id, d]));
    this.#store = new AllocationStore(config.state_dir);
    this.#handoffs = new Handoffs(this.#store, this.#devices, config.allowed_uids, log);
    this.#readHealth();
  }

  get socketPath(): string {
    return path.join(this.#config.kubelet_dir, endpointName(this.#config.resource_name));
  }

  /** Serves the socket, registers when the kubelet is there, then keeps both current. */
  async start(): Promise<void> {
    const dir = this.#config.kubelet_dir;
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`kubelet_dir ${dir} is not a directory (is the kubelet's device-plugins directory mounted?)`);
    }
    await this.#serve();
    // Allocations made before a restart: pods not started yet can still connect.
    for (const allocation of this.#store.allocations) {
      this.#handoffs.serve(allocation);
    }
    await this.#checkKubelet();
    this.#timers.push(
      setInterval(() => void this.#checkKubelet(), KUBELET_POLL_MS),
      setInterval(() => this.#checkHealth(), this.#config.health_poll_ms),
      setInterval(() => this.#handoffs.drainEvents(), HANDOFF_LOG_MS),
    );
  }

  /** Stops serving and removes the socket; the allocation state stays for the next start. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#timers.forEach(clearInterval);
    this.#timers = [];
    await this.#shutdown();
    this.#handoffs.closeAll();
  }

  async #serve(): Promise<void> {
    const socket = this.socketPath;
    fs.rmSync(socket, { force: true }); // a socket left by a killed plugin
    const server = new grpc.Server();
    server.addService(this.#api.v1beta1.DevicePlugin.service, {
      GetDevicePluginOptions: this.#unary(() => ({ pre_start_required: true, get_preferred_allocation_available: true })),
      ListAndWatch: (call: grpc.ServerWritableStream<unknown, { devices: DeviceMsg[] }>) => this.#listAndWatch(call),
      GetPreferredAllocation: this.#unary((req: PreferredRequest) => this.#preferred(req)),
      Allocate: this.#unary((req: AllocateRequest) => this.#allocate(req)),
      PreStartContainer: this.#unary((req: PreStartRequest) => this.#preStart(req)),
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) =>
        e ? reject(new Error(`cannot serve ${socket}: ${e.message}`)) : resolve(),
      ),
    );
    this.#server = server;
    this.#log(`serving ${socket}`);
  }

  async #shutdown(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const w of this.#watchers) {
      w.end();
    }
    this.#watchers.clear();
    if (server !== undefined) {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      fs.rmSync(this.socketPath, { force: true });
    }
  }

  #unary<Req, Res>(handler: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      try {
        callback(null, handler(call.request));
      } catch (e) {
        const code = e instanceof RpcError ? e.code : grpc.status.INTERNAL;
        this.#log(`${code === grpc.status.INTERNAL ? 'error' : 'refused'}: ${(e as Error).message}`);
        callback({ code, details: (e as Error).message });
      }
    };
  }

  // A kubelet restart removes every socket of its directory and makes a new kubelet.sock: serve
  // again if ours went, and register with each new kubelet.sock.
  async #checkKubelet(): Promise<void> {
    if (this.#busy || this.#stopping) {
      return;
    }
    this.#busy = true;
    try {
      const kubelet = path.join(this.#config.kubelet_dir, KUBELET_SOCKET);
      let identity: string | undefined;
      try {
        const st = fs.statSync(kubelet);
        identity = `${st.dev}:${st.ino}:${st.ctimeMs}`;
      } catch {
        identity = undefined;
      }
      if (!fs.existsSync(this.socketPath)) {
        this.#log(`${this.socketPath} was removed: serving it again`);
        await this.#shutdown();
        await this.#serve();
        this.#registeredWith = undefined;
      }
      if (identity !== undefined && identity !== this.#registeredWith) {
        await this.#register(kubelet);
        this.#registeredWith = identity;
      }
    } catch (e) {
      this.#log(`registration failed (retrying): ${(e as Error).message}`);
    } finally {
      this.#busy = false;
    }
  }

  async #register(kubelet: string): Promise<void> {
    const client = new this.#api.v1beta1.Registration(`unix://${kubelet}`, grpc.credentials.createInsecure());
    try {
      const request = {
        version: API_VERSION,
        endpoint: endpointName(this.#config.resource_name),
        resource_name: this.#config.resource_name,
        options: { pre_start_required: true, get_preferred_allocation_available: true },
      };
      await new Promise<void>((resolve, reject) => {
        const register = client.Register as (
          req: unknown,
          opts: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null) => void,
        ) => void;
        register.call(client, request, { deadline: Date.now() + 5000 }, (e) => (e ? reject(e) : resolve()));
      });
      this.#log(`registered ${this.#config.resource_name} with ${kubelet}`);
    } finally {
      client.close();
    }
  }

  #deviceList(): { devices: DeviceMsg[] } {
    return { devices: [...this.#devices.keys()].map((id) => ({ ID: id, health: this.#health.get(id) ?? 'Unhealthy' })) };
  }

  /** Reads every device's health; returns whether any changed. */
  #readHealth(): boolean {
    let changed = false;
    for (const [id, device] of this.#devices) {
      const health = deviceHealth(this.#config.sysfs, device);
      if (this.#health.get(id) !== health) {
        if (this.#health.has(id)) {
          this.#log(`${id}: ${health}`);
        }
        this.#health.set(id, health);
        changed = true;
      }
    }
    return changed;
  }

  #checkHealth(): void {
    if (this.#readHealth()) {
      const list = this.#deviceList();
      for (const w of this.#watchers) {
        w.write(list);
      }
    }
  }

  #listAndWatch(call: grpc.ServerWritableStream<unknown, { devices: DeviceMsg[] }>): void {
    this.#watchers.add(call);
    call.on('cancelled', () => this.#watchers.delete(call));
    call.on('close', () => this.#watchers.delete(call));
    call.write(this.#deviceList());
  }

  #preferred(req: PreferredRequest): { container_responses: { deviceIDs: string[] }[] } {
    return {
      container_responses: req.container_requests.map((r) => ({
        deviceIDs: preferredAllocation(this.#devices, r.available_deviceIDs, r.must_include_deviceIDs, r.allocation_size),
      })),
    };
  }

  #allocate(req: AllocateRequest): { container_responses: ContainerAllocateResponse[] } {
    // Check every container's devices before any allocation is made.
    for (const r of req.container_requests) {
      if (r.devices_ids.length === 0) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, 'a container request names no device');
      }
      for (const id of r.devices_ids) {
        if (!this.#devices.has(id)) {
          throw new RpcError(grpc.status.INVALID_ARGUMENT, `unknown device "${id}" (${this.#config.resource_name} offers ${[...this.#devices.keys()].join(', ')})`);
        }
        if (this.#health.get(id) !== 'Healthy') {
          throw new RpcError(grpc.status.FAILED_PRECONDITION, `device "${id}" is Unhealthy`);
        }
      }
    }
    const vfio = req.container_requests.map((r) =>
      r.devices_ids.map((id) => this.#devices.get(id)!).flatMap((d) => (d.kind === 'vf' ? [d] : [])).map((vf) => {
        try {
          return { pci: vf.pciAddress, group: iommuGroup(this.#config.sysfs, vf.pciAddress) };
        } catch (e) {
          throw new RpcError(grpc.status.FAILED_PRECONDITION, (e as Error).message);
        }
      }),
    );
    return {
      container_responses: req.container_requests.map((r, i) => {
        const { allocation, token, ended } = this.#store.allocate(r.devices_ids);
        for (const e of ended) {
          this.#handoffs.end(e.id);
        }
        this.#log(`allocated ${r.devices_ids.join(',')} as ${allocation.id}`);
        try {
          this.#handoffs.serve(allocation);
        } catch (e) {
          throw new RpcError(grpc.status.INTERNAL, `serving the handoff socket of ${allocation.id}: ${(e as Error).message}`);
        }
        const envs: Record<string, string> = {
          FASTLANE_DEVICE_PLUGIN_SOCKET: path.posix.join(this.#config.container_dir, HANDOFF_SOCKET),
          FASTLANE_DEVICES: r.devices_ids.join(','),
          FASTLANE_ALLOCATION: allocation.id,
          FASTLANE_TOKEN: token,
        };
        const vfs = vfio[i]!;
        const devices: ContainerAllocateResponse['devices'] = [];
        if (vfs.length > 0) {
          envs[pciDeviceEnv(this.#config.resource_name)] = vfs.map((v) => v.pci).join(',');
          for (const node of ['vfio', ...new Set(vfs.map((v) => v.group))]) {
            const dev = `/dev/vfio/${node}`;
            devices.push({ container_path: dev, host_path: dev, permissions: 'rw' });
          }
        }
        return {
          envs,
          mounts: [{ container_path: this.#config.container_dir, host_path: this.#store.socketDir(allocation.id), read_only: false }],
          devices,
        };
      }),
    };
  }

  // The descriptors are made when the container's Fastlane asks for them (in its network
  // namespace, which exists only once it runs); here the devices must be one allocation this
  // plugin made (before or after a restart of its own).
  #preStart(req: PreStartRequest): Record<string, never> {
    if (this.#store.find(req.devices_ids) === undefined) {
      throw new RpcError(grpc.status.FAILED_PRECONDITION, `no allocation holds exactly the devices ${req.devices_ids.join(', ')}`);
    }
    return {};
  }
}
