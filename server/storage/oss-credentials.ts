/** Credentials OSS requests are signed with: a long-term key pair, or STS (key pair + token, expiring). */
export interface OssCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  /** STS only: when OSS stops accepting them. */
  expiration?: Date;
}

/** Where credentials come from. `get` refreshes when needed; `current` never waits (for signing URLs). */
export interface OssCredentialSource {
  readonly kind: 'static' | 'ecs-ram-role';
  /** Credentials valid now, refreshed first when they are about to expire. Rejects when they cannot be had. */
  get(): Promise<OssCredentials>;
  /**
   * The cached credentials when they are still valid, without waiting; starts a refresh in the background
   * when they are close to expiry. Throws when there are none or they have expired.
   */
  current(): OssCredentials;
}

/** A key pair, with an optional static STS token (OSS_SECURITY_TOKEN); never refreshed. */
export class StaticCredentials implements OssCredentialSource {
  readonly kind = 'static' as const;
  private readonly credentials: OssCredentials;

  constructor(credentials: OssCredentials) {
    this.credentials = { ...credentials };
  }

  async get(): Promise<OssCredentials> {
    return this.credentials;
  }

  current(): OssCredentials {
    return this.credentials;
  }
}

export class CredentialsUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialsUnavailableError';
  }
}

export interface EcsRamRoleOptions {
  /** The instance RAM role's name (OSS_ECS_RAM_ROLE). */
  role: string;
  /** The instance metadata service; `http://100.100.100.200` on ECS. Tests point it at a fake. */
  metadataUrl?: string;
  /** Refresh this long before the credentials expire. Default 5 minutes. */
  refreshMarginMs?: number;
  /** Per metadata request. Default 5 s. */
  timeoutMs?: number;
  /** Tests move time forward with this. */
  now?: () => number;
}

export const ECS_METADATA_URL = 'http://100.100.100.200';

interface MetadataCredentials {
  AccessKeyId?: unknown;
  AccessKeySecret?: unknown;
  SecurityToken?: unknown;
  Expiration?: unknown;
  Code?: unknown;
}

/**
 * STS credentials of the ECS instance RAM role, from the instance metadata service, refreshed before they
 * expire. Uses the token (hardened) mode of the metadata service, which also works in normal mode:
 * `PUT /latest/api/token`, then `GET /latest/meta-data/ram/security-credentials/<role>` with the token.
 * One refresh at a time, shared by every caller. The metadata address is reached only from here, with
 * plain fetch; the result-download path (safe-fetch) keeps refusing it.
 */
export class EcsRamRoleCredentials implements OssCredentialSource {
  readonly kind = 'ecs-ram-role' as const;
  private readonly role: string;
  private readonly metadataUrl: string;
  private readonly refreshMarginMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private cached: OssCredentials | undefined;
  private inFlight: Promise<OssCredentials> | undefined;

  constructor(options: EcsRamRoleOptions) {
    this.role = options.role;
    this.metadataUrl = (options.metadataUrl ?? ECS_METADATA_URL).replace(/\/+$/, '');
    this.refreshMarginMs = options.refreshMarginMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  private expiresAt(credentials: OssCredentials): number {
    return credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
  }

  async get(): Promise<OssCredentials> {
    const cached = this.cached;
    if (cached && this.now() < this.expiresAt(cached) - this.refreshMarginMs) return cached;
    try {
      return await this.refresh();
    } catch (error) {
      // Close to expiry but not expired: still good to use while the metadata service recovers.
      if (cached && this.now() < this.expiresAt(cached)) return cached;
      throw error;
    }
  }

  current(): OssCredentials {
    const cached = this.cached;
    const now = this.now();
    if (!cached || now >= this.expiresAt(cached)) {
      this.refresh().catch(() => undefined);
      throw new CredentialsUnavailableError(
        cached
          ? 'The RAM role credentials have expired and could not be refreshed yet'
          : 'The RAM role credentials have not been fetched yet',
      );
    }
    if (now >= this.expiresAt(cached) - this.refreshMarginMs) this.refresh().catch(() => undefined);
    return cached;
  }

  /** Fetch now (sharing a fetch already under way). */
  refresh(): Promise<OssCredentials> {
    this.inFlight ??= this.fetchCredentials()
      .then((credentials) => {
        this.cached = credentials;
        return credentials;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.metadataUrl}${path}`, {
        ...init,
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new CredentialsUnavailableError(
        `The instance metadata service did not answer (${(error as Error).name})`,
        { cause: error },
      );
    }
  }

  private async fetchCredentials(): Promise<OssCredentials> {
    const tokenResponse = await this.request('/latest/api/token', {
      method: 'PUT',
      headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': '300' },
    });
    if (!tokenResponse.ok) {
      throw new CredentialsUnavailableError(
        `The instance metadata service refused a token (HTTP ${tokenResponse.status})`,
      );
    }
    const token = (await tokenResponse.text()).trim();
    const response = await this.request(
      `/latest/meta-data/ram/security-credentials/${encodeURIComponent(this.role)}`,
      { headers: { 'X-aliyun-ecs-metadata-token': token } },
    );
    if (!response.ok) {
      throw new CredentialsUnavailableError(
        `The instance metadata service has no credentials for RAM role "${this.role}" (HTTP ${response.status})`,
      );
    }
    let body: MetadataCredentials;
    try {
      body = (await response.json()) as MetadataCredentials;
    } catch (error) {
      throw new CredentialsUnavailableError('The instance metadata service sent invalid JSON', {
        cause: error,
      });
    }
    const { AccessKeyId, AccessKeySecret, SecurityToken, Expiration } = body;
    const expiration = typeof Expiration === 'string' ? new Date(Expiration) : undefined;
    if (
      typeof AccessKeyId !== 'string' ||
      typeof AccessKeySecret !== 'string' ||
      typeof SecurityToken !== 'string' ||
      !AccessKeyId ||
      !AccessKeySecret ||
      !SecurityToken ||
      !expiration ||
      Number.isNaN(expiration.getTime()) ||
      (body.Code !== undefined && body.Code !== 'Success')
    ) {
      throw new CredentialsUnavailableError('The instance metadata service sent incomplete credentials');
    }
    if (expiration.getTime() <= this.now()) {
      throw new CredentialsUnavailableError('The instance metadata service sent expired credentials');
    }
    return {
      accessKeyId: AccessKeyId,
      accessKeySecret: AccessKeySecret,
      securityToken: SecurityToken,
      expiration,
    };
  }
}
