import { Code, type ControlServiceServer, FlotillaError } from '@flotilla/api';
import type { Handle } from './handler.js';

/** Secrets and configs: not served yet (issue 20 in progress). */
export function fileObjectControl(
  handle: Handle,
): Pick<ControlServiceServer, 'createFileObject' | 'listFileObjects' | 'getFileObject' | 'removeFileObject'> {
  const refuse = async (): Promise<never> => {
    throw new FlotillaError(Code.Unimplemented, 'secrets and configs are not served by this manager yet');
  };
  return {
    createFileObject: handle(refuse),
    listFileObjects: handle(refuse),
    getFileObject: handle(refuse),
    removeFileObject: handle(refuse),
  };
}
