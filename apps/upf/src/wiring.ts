// Which implementations the UPF runs with: the rules' shared-memory sessions and the PFCP node.

import type { UpfOptions } from './app';

export function wiring(): UpfOptions {
  return {
    userPlane: () => {
      throw new Error('the shared-memory sessions are not merged yet');
    },
  };
}
