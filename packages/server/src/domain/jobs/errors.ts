/** A report under a lease that expired or moved to another worker. */
export class LeaseLostError extends Error {
  constructor() {
    super('the lease has expired or moved to another worker');
    this.name = 'LeaseLostError';
  }
}

export class JobFinishedError extends Error {
  constructor() {
    super('the job has already finished');
    this.name = 'JobFinishedError';
  }
}

export class JobNotFoundError extends Error {
  constructor() {
    super('no such job');
    this.name = 'JobNotFoundError';
  }
}

export class UnknownJobTypeError extends Error {
  constructor(readonly type: string) {
    super(`no handler or worker serves job type ${type}`);
    this.name = 'UnknownJobTypeError';
  }
}
