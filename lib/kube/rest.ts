/**
 * A small Kubernetes REST client on wire JSON. @kubernetes/client-node loads the kubeconfig and
 * supplies credentials; requests go straight over HTTPS so objects keep their wire shape (the
 * client's typed serializer drops fields its models do not know, such as x-kubernetes-* keys, and
 * renames others). One keep-alive agent per client.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import type { KubeObject, ObjectMeta } from '../../api/meta.js';
import type { CredentialSource } from './credentials.js';
import type { ApiStatus } from './errors.js';

export type { ObjectMeta } from '../../api/meta.js';

/** Where a kind is served. */
export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** Any Kubernetes object, as JSON on the wire. */
export interface WireObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectList<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

/** One event of a watch stream. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** An error answer of the API server, with its metav1.Status when it sent one. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly status: ApiStatus | undefined,
    what: string,
  ) {
    super(`${what}: ${code} ${status?.reason ?? ''} ${status?.message ?? ''}`.trim());
    this.name = 'KubeApiError';
  }
}

export const isNotFoundError = (e: unknown): boolean => e instanceof KubeApiError && e.code === 404;
export const isConflictError = (e: unknown): boolean => e instanceof KubeApiError && e.code === 409;
export const isGoneError = (e: unknown): boolean => e instanceof KubeApiError && e.code === 410;

/** API path of a collection (no name) or of one object. */
export function resourcePath(
  type: ResourceType,
  at: { namespace?: string; name?: string; subresource?: string } = {},
): string {
  let path = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  if (type.namespaced && at.namespace) path += `/namespaces/${encodeURIComponent(at.namespace)}`;
  path += `/${type.plural}`;
  if (at.name) path += `/${encodeURIComponent(at.name)}`;
  if (at.subresource) path += `/${at.subresource}`;
  return path;
}

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

type Query = Record<string, string | number | boolean | undefined>;

function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

const bodyText = (body: unknown): string => (typeof body === 'string' ? body : JSON.stringify(body));

export interface RequestInit {
  query?: Query;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface KubeClientOptions {
  /** Act as this user (Impersonate-User), e.g. system:serviceaccount:ns:name; needs impersonate rights. */
  impersonateUser?: string;
  impersonateGroups?: string[];
  /** Sockets the keep-alive agent may open to the API server. */
  maxSockets?: number;
  /** Told of every answer (for request metrics). */
  onResponse?: (method: string, statusCode: number) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

const MAX_429_ATTEMPTS = 5;

/** The parsed JSON body of an answer; KubeApiError for any non-2xx one. */
function parseAnswer<T>(method: string, path: string, code: number, text: string): T {
  if (code < 200 || code >= 300) {
    let status: ApiStatus | undefined;
    try {
      status = JSON.parse(text) as ApiStatus;
    } catch {
      status = { code, message: text.slice(0, 500) };
    }
    throw new KubeApiError(code, status, `${method} ${path}`);
  }
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    return text as T;
  }
}

export class KubeClient {
  private readonly server: string;
  /** apiVersion -> its discovery document's resources (for kinds no ResourceType names). */
  private readonly discovery = new Map<string, Promise<Array<{ name: string; kind: string; namespaced: boolean }>>>();
  /**
   * Keep-alive agents holding the TLS material, made on the first request. TLS options given per
   * request would build a new secure context (and handshake) for each one. Client certificates are
   * therefore read once; bearer tokens still come fresh with every request's headers. Watches get an
   * agent of their own without a socket cap: each holds its socket for minutes, and sharing the
   * capped one let enough informers starve every other request.
   */
  private agent: Agent | undefined;
  private watchAgent: Agent | undefined;

  constructor(
    private readonly kc: CredentialSource,
    private readonly options: KubeClientOptions = {},
  ) {
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error('the kubeconfig has no current cluster');
    this.server = server;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent?.destroy();
    this.watchAgent?.destroy();
  }

  private async requestOptions(method: string, init: RequestInit): Promise<RequestOptions> {
    const applied: RequestOptions = { headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(applied);
    const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername, headers: appliedHeaders } = applied;
    const tls = { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername };
    let agent: Agent;
    if (init.query?.['watch']) agent = this.watchAgent ??= new Agent({ keepAlive: true, ...tls });
    else agent = this.agent ??= new Agent({ keepAlive: true, maxSockets: this.options.maxSockets ?? 16, ...tls });
    const headers = { ...(appliedHeaders as Record<string, string | string[]>) };
    const options: RequestOptions = { method, agent, headers };
    if (init.body !== undefined) {
      headers['Content-Type'] = init.contentType ?? 'application/json';
      // A sized body, never chunked: the API server leaves a chunked DELETE body unread, and the
      // next request on that keep-alive connection then fails with 400.
      headers['Content-Length'] = String(Buffer.byteLength(bodyText(init.body)));
    }
    if (this.options.impersonateUser) headers['Impersonate-User'] = this.options.impersonateUser;
    if (this.options.impersonateGroups?.length) headers['Impersonate-Group'] = this.options.impersonateGroups;
    return options;
  }

  private async open(method: string, path: string, init: RequestInit): Promise<IncomingMessage> {
    const options = await this.requestOptions(method, init);
    const url = new URL(withQuery(path, init.query), this.server);
    return new Promise((resolve, reject) => {
      // A deadline for the whole exchange, time spent waiting for a free socket included (a socket
      // timeout starts only once the request has one, so a request queued behind busy sockets
      // could wait forever). Cleared when the answer has been read.
      let deadline: NodeJS.Timeout | undefined;
      const req = request(url, { ...options, signal: init.signal }, (res) => {
        res.once('close', () => clearTimeout(deadline));
        resolve(res);
      });
      if (init.timeoutMs)
        deadline = setTimeout(
          () => req.destroy(new Error(`${method} ${path} timed out after ${init.timeoutMs} ms`)),
          init.timeoutMs,
        );
      req.once('error', () => clearTimeout(deadline));
      req.on('error', reject);
      if (init.body !== undefined) req.write(bodyText(init.body));
      req.end();
    });
  }

  /**
   * One request; resolves with the parsed JSON body, throws KubeApiError for any non-2xx answer.
   * A 429 with Retry-After (e.g. a new CRD's storage still initializing, or priority and fairness
   * shedding load) is retried a few times after the delay the server asks for, as client-go does.
   */
  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.open(method, path, { timeoutMs: DEFAULT_TIMEOUT_MS, ...init });
      let text = '';
      res.setEncoding('utf8');
      for await (const chunk of res) text += chunk as string;
      this.options.onResponse?.(method, res.statusCode ?? 0);
      const retryAfter = Number(res.headers['retry-after']);
      if (res.statusCode === 429 && retryAfter >= 0 && attempt < MAX_429_ATTEMPTS && !init.signal?.aborted) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfter, 5) * 1000 || 100));
        continue;
      }
      return parseAnswer<T>(method, path, res.statusCode ?? 0, text);
    }
  }

  /**
   * Where `kind` of `apiVersion` is served, from the API server's discovery (cached per apiVersion;
   * a kind not found, e.g. a CRD just created, asks again next time).
   */
  async resourceFor(apiVersion: string, kind: string): Promise<ResourceType> {
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
    let resources = this.discovery.get(apiVersion);
    if (!resources) {
      resources = this.request<{ resources: Array<{ name: string; kind: string; namespaced: boolean }> }>(
        'GET',
        group ? `/apis/${apiVersion}` : `/api/${version}`,
      ).then((d) => d.resources);
      this.discovery.set(apiVersion, resources);
    }
    const found = (await resources.catch(() => [])).find((r) => r.kind === kind && !r.name.includes('/'));
    if (!found) {
      this.discovery.delete(apiVersion);
      throw new Error(`the API server does not serve kind ${kind} in ${apiVersion}`);
    }
    return { group, version, plural: found.name, kind, namespaced: found.namespaced };
  }

  async get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', resourcePath(type, { namespace, name }));
    } catch (error) {
      if (isNotFoundError(error)) return undefined;
      throw error;
    }
  }

  async list<T extends KubeObject>(
    type: ResourceType,
    at: { namespace?: string; labelSelector?: string; limit?: number; continue?: string; signal?: AbortSignal } = {},
  ): Promise<ObjectList<T>> {
    return this.request<ObjectList<T>>('GET', resourcePath(type, { namespace: at.namespace }), {
      query: { labelSelector: at.labelSelector, limit: at.limit, continue: at.continue },
      ...(at.signal ? { signal: at.signal } : {}),
    });
  }

  async create<T extends KubeObject>(type: ResourceType, object: T, at: { dryRun?: boolean } = {}): Promise<T> {
    return this.request<T>('POST', resourcePath(type, { namespace: object.metadata?.namespace }), {
      body: object,
      query: { dryRun: at.dryRun ? 'All' : undefined },
    });
  }

  /** Replaces `object` (PUT; its metadata.resourceVersion guards against lost updates). */
  async replace<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.request<T>(
      'PUT',
      resourcePath(type, { namespace: object.metadata?.namespace, name: object.metadata?.name }),
      { body: object },
    );
  }

  /** Server-side apply of `object` (which must carry apiVersion, kind and metadata.name). */
  async apply<T extends KubeObject>(
    type: ResourceType,
    object: T,
    fieldManager: string,
    at: { subresource?: string; force?: boolean; dryRun?: boolean } = {},
  ): Promise<T> {
    const path = resourcePath(type, {
      namespace: object.metadata?.namespace,
      name: object.metadata?.name,
      subresource: at.subresource,
    });
    return this.request<T>('PATCH', path, {
      body: object,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager, force: at.force ?? true, dryRun: at.dryRun ? 'All' : undefined },
    });
  }

  /** JSON merge patch (RFC 7386) of one object or its subresource. */
  async mergePatch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource?: string,
  ): Promise<T> {
    return this.request<T>('PATCH', resourcePath(type, { namespace, name, subresource }), {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  /** Deletes one object; a missing object is not an error. */
  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background',
  ): Promise<void> {
    try {
      await this.request('DELETE', resourcePath(type, { namespace, name }), { body: { propagationPolicy } });
    } catch (error) {
      if (!isNotFoundError(error)) throw error;
    }
  }

  /**
   * Streams watch events of `type` until the server ends the stream (resolves), the signal aborts
   * (resolves) or the connection fails (rejects). A 410 Gone arrives as an ERROR event or as a
   * KubeApiError with code 410.
   */
  async watch<T extends KubeObject>(
    type: ResourceType,
    at: { namespace?: string; resourceVersion?: string; labelSelector?: string; timeoutSeconds: number },
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const path = resourcePath(type, { namespace: at.namespace });
    const query: Query = {
      watch: true,
      allowWatchBookmarks: true,
      resourceVersion: at.resourceVersion,
      labelSelector: at.labelSelector,
      timeoutSeconds: at.timeoutSeconds,
    };
    let res: IncomingMessage;
    try {
      res = await this.open('GET', path, { query, signal });
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
    if ((res.statusCode ?? 0) >= 300) {
      let text = '';
      for await (const chunk of res) text += String(chunk);
      let status: ApiStatus | undefined;
      try {
        status = JSON.parse(text) as ApiStatus;
      } catch {
        status = undefined;
      }
      throw new KubeApiError(res.statusCode ?? 0, status, `WATCH ${path}`);
    }
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }
}
