/** A stack-file value that cannot be parsed; the message says what is wrong and what to write instead. */
export class ValueError extends Error {
  override readonly name = 'ValueError';

  constructor(message: string) {
    super(message);
  }
}
