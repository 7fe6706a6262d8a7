/** The contract's error body: `{"message": "<Error> ...", "status": "failure"}`. */
export interface Failure {
  readonly message: string;
  readonly status: 'failure';
}

export function failure(message: string): Failure {
  return { message, status: 'failure' };
}
