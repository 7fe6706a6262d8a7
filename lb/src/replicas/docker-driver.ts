import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { DriverError, type ReplicaDriver } from './driver.js';

export const DockerDriver = {
  async connect(_config: Config, _log: Logger): Promise<ReplicaDriver> {
    throw new DriverError('the docker driver is not built yet');
  },
};
