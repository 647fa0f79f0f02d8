// JSON API client. Errors carry the server's {"error":{code,message,field}}.
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.code = body?.error?.code;
    this.field = body?.error?.field;
  }
}

export class NetworkError extends Error {}

export function createClient({ getToken, onUnauthorized, onNetwork }) {
  // `contentType` sends `body` as is (e.g. a File), otherwise it is sent as JSON.
  async function request(method, path, body, { contentType } = {}) {
    const headers = { Accept: 'application/json' };
    const token = getToken?.();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = contentType || 'application/json';
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : contentType ? body : JSON.stringify(body) });
    } catch (e) {
      onNetwork?.(false);
      throw new NetworkError('The server cannot be reached. Check your connection.');
    }
    onNetwork?.(true);
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch { data = { error: { message: text } }; } }
    if (!res.ok) {
      if (res.status === 401 && token) onUnauthorized?.();
      throw new ApiError(res.status, data);
    }
    return data;
  }
  return {
    get: (p) => request('GET', p),
    post: (p, b) => request('POST', p, b ?? {}),
    put: (p, b) => request('PUT', p, b),
    patch: (p, b) => request('PATCH', p, b),
    del: (p) => request('DELETE', p),
    raw: request,
  };
}

/**
 * An EventSource that survives: reconnects with back-off when the browser
 * gives up (server down, proxy closed), and reports its state.
 * For feeds with replay, `since()` supplies the last sequence seen.
 */
export function liveFeed(urlFn, { onEvent, onState }) {
  let es = null; let closed = false; let retry = 1000; let timer = null;
  function open() {
    if (closed) return;
    es = new EventSource(urlFn());
    es.onopen = () => { retry = 1000; onState?.('live'); };
    es.addEventListener('mission', (m) => {
      let data; try { data = JSON.parse(m.data); } catch { return; }
      onEvent(data, m);
    });
    es.onerror = () => {
      if (closed) return;
      onState?.('reconnecting');
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        timer = setTimeout(open, retry);
        retry = Math.min(retry * 2, 15000);
      }
    };
  }
  open();
  return { close() { closed = true; clearTimeout(timer); es?.close(); } };
}
