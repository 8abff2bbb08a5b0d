import { Refusal } from '../../errors.js';

/** A report under a lease that expired or moved to another worker. */
export class LeaseLostError extends Refusal {
  constructor() {
    super('lease_lost', 'the lease has expired or moved to another worker');
    this.name = 'LeaseLostError';
  }
}

export class JobFinishedError extends Refusal {
  constructor() {
    super('job_finished', 'the job has already finished');
    this.name = 'JobFinishedError';
  }
}

export class JobNotFoundError extends Refusal {
  constructor() {
    super('not_found', 'no such job');
    this.name = 'JobNotFoundError';
  }
}

export class UnknownJobTypeError extends Refusal {
  constructor(readonly type: string) {
    super('unknown_job_type', `no handler or worker serves job type "${type}"`);
    this.name = 'UnknownJobTypeError';
  }
}
