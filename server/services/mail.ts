import nodemailer, { type Transporter } from 'nodemailer';
import { logger } from '../logger.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /** The HTTP request that sends it, for its log line. */
  requestId?: string;
}

/** Sends account emails; without SMTP it writes them to the log (local development). */
export interface Mailer {
  /** True when SMTP_URL is set: emails really leave, so verification gates the bonus and the admin list. */
  readonly configured: boolean;
  send(message: MailMessage): Promise<void>;
}

export interface MailConfig {
  SMTP_URL?: string;
  MAIL_FROM?: string;
  PUBLIC_URL?: string;
}

const transports = new Map<string, Transporter>();

/** The mailer for a configuration; one pooled SMTP transport per SMTP_URL, made on first use. */
export function mailerFor(config: MailConfig): Mailer {
  const smtpUrl = config.SMTP_URL;
  if (!smtpUrl) {
    return {
      configured: false,
      send: async (message) => {
        // Only without SMTP, where this log is the delivery: the link is the point of the message.
        logger.info('email (SMTP_URL unset, not sent)', {
          requestId: message.requestId,
          to: message.to,
          subject: message.subject,
          text: message.text,
        });
      },
    };
  }
  let transport = transports.get(smtpUrl);
  if (!transport) {
    transport = nodemailer.createTransport(smtpUrl);
    transports.set(smtpUrl, transport);
  }
  const from = config.MAIL_FROM ?? `Dream Factory <no-reply@${hostOf(config.PUBLIC_URL)}>`;
  const sender = transport;
  return {
    configured: true,
    send: async (message) => {
      await sender.sendMail({ from, to: message.to, subject: message.subject, text: message.text });
      logger.info('email sent', { requestId: message.requestId, to: message.to, subject: message.subject });
    },
  };
}

const hostOf = (url: string | undefined): string => {
  try {
    return url ? new URL(url).hostname : 'localhost';
  } catch {
    return 'localhost';
  }
};
