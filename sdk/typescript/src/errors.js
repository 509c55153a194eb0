// The one error type the SDK throws for anything runrad (or reaching it) refused.

/**
 * An error from runrad, or from failing to reach it.
 *
 * `status` is the HTTP status (0 when no answer came at all), `code` the
 * API's error code ("not_found", "conflict", "invalid_argument", ...) or
 * "connection_error" when runrad could not be reached.
 */
export class RunraError extends Error {
  constructor(status, code, message, options) {
    super(message, options);
    this.name = "RunraError";
    this.status = status;
    this.code = code;
  }
}

// Builds the RunraError for a non-2xx answer. The API promises the shape
// {"error": {"code", "message"}}; a proxy in between may answer otherwise,
// so anything else still becomes an error that names the status.
export function errorFromResponse(status, body) {
  let code = "http_" + status;
  let message = `runrad answered HTTP ${status}`;
  const text = Buffer.isBuffer(body) ? body.toString("utf8") : String(body ?? "");
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.error === "object" && parsed.error !== null) {
      if (typeof parsed.error.code === "string") code = parsed.error.code;
      if (typeof parsed.error.message === "string") message = parsed.error.message;
    }
  } catch {
    if (text.trim() !== "") message += `: ${text.trim().slice(0, 500)}`;
  }
  return new RunraError(status, code, message);
}
