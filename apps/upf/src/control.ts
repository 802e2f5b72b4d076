// The UPF's control process: what writes the rules' region (the next hops, and the PFCP node
// with its state region), apart from the data plane so that killing it never stops forwarding.
// `fastlane upf run` starts it over the region it made (ControlSupervisor, supervisor.ts) and
// starts it again when it dies; a new one takes over the region's sessions and the PFCP node's
// state. Run as `node control.js <config> <region>` with an IPC channel to the supervisor.

import { UpfControl, regionCapacities } from './app';
import { loadUpfConfig } from './config';
import { wiring } from './wiring';

/** This module's file, which the supervisor runs. */
export const CONTROL_ENTRY = __filename;

/** What the control process sends its supervisor once it is up. */
export interface ControlReady {
  ready: true;
  /** The PFCP node's Recovery Time Stamp (NTP seconds), when it runs one. */
  recoveryTimeStamp?: number;
  /** Whether the PFCP node took over the state a previous control process left. */
  stateKept?: boolean;
}

async function main(): Promise<void> {
  const [file, region] = process.argv.slice(2);
  if (file === undefined || region === undefined || process.send === undefined) {
    console.error('usage: control.js <config> <region>, started by `fastlane upf run` with an IPC channel');
    process.exit(2);
  }
  const config = loadUpfConfig(file);
  const options = wiring();
  const userPlane = options.attachUserPlane!(region, regionCapacities(config));
  let control: UpfControl;
  try {
    control = await UpfControl.start(config, region, userPlane, options);
  } catch (e) {
    userPlane.close();
    throw e;
  }
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await control.stop();
    userPlane.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // The supervisor gone (even by SIGKILL) means the data plane is gone: nothing left to control.
  process.on('disconnect', () => void stop());
  const pfcp = control.pfcp;
  const ready: ControlReady = pfcp === undefined ? { ready: true } : { ready: true, recoveryTimeStamp: pfcp.recoveryTimeStamp, stateKept: pfcp.stateKept };
  process.send(ready);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`fastlane upf control: cannot start: ${(e as Error).message}`);
    process.exit(1);
  });
}
