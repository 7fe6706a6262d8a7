/** An admin call that is refused: the message goes to the client as-is, with this status. */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}
