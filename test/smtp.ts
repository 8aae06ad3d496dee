import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP receiver on a free loopback port (the `smtp-server` package); collects what it is sent. */
export async function startSmtpReceiver() {
  const inbox: ReceivedMail[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        inbox.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        for (const w of waiters.splice(0)) w();
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    inbox,
    /** The mails to an address so far. */
    to: (address: string) => inbox.filter((m) => m.to.includes(address)),
    /** Waits until `count` mails reached the address (2 s at most). */
    async waitFor(address: string, count = 1): Promise<ReceivedMail[]> {
      const deadline = Date.now() + 2000;
      while (inbox.filter((m) => m.to.includes(address)).length < count) {
        if (Date.now() > deadline) throw new Error(`no mail for ${address}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return inbox.filter((m) => m.to.includes(address));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The link with `path` (e.g. `/verify-email`) in a mail, decoded from quoted-printable line wrapping. */
export function linkIn(mail: ReceivedMail, path: string): URL {
  const text = mail.raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
  const match = new RegExp(`https?://[^\\s]+${path}\\?token=[^\\s]+`).exec(text);
  if (!match) throw new Error(`no ${path} link in the mail`);
  return new URL(match[0]);
}
