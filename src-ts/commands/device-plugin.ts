// `fastlane device-plugin --config FILE`: the kubelet-facing device-plugin daemon (API v1beta1),
// until SIGINT or SIGTERM, which remove its socket and keep its allocation state.

import type { Argv, CommandModule } from 'yargs';

import { loadDevicePluginConfig } from '../device-plugin/config';
import { DevicePlugin } from '../device-plugin/server';
import { StopLatch } from '../signals';

interface DevicePluginArgs {
  config: string;
}

export const devicePluginCommand: CommandModule<object, DevicePluginArgs> = {
  command: 'device-plugin',
  describe: 'Offer AF_XDP/AF_PACKET queues and SR-IOV VFs to the kubelet as a device plugin',
  builder: (yargs: Argv) =>
    yargs.option('config', {
      describe: 'device-plugin config file (JSON)',
      type: 'string',
      demandOption: true,
      requiresArg: true,
    }) as Argv<DevicePluginArgs>,
  handler: async (args) => {
    const log = (line: string): void => console.log(`device-plugin: ${line}`);
    const latch = new StopLatch();
    try {
      const plugin = new DevicePlugin(loadDevicePluginConfig(args.config), log);
      await plugin.start();
      await latch.wait();
      await plugin.stop();
      log(`stopped (${latch.signal ?? latch.error?.message ?? 'done'})`);
    } finally {
      latch.dispose();
    }
  },
};
