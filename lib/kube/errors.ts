/** Reading Kubernetes API errors thrown by @kubernetes/client-node. */
import { ApiException } from '@kubernetes/client-node';

/** The fields of a metav1.Status we read. */
export interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ field?: string; message?: string; reason?: string }> };
}

/** The metav1.Status inside an API error, or undefined for any other error. */
export function apiStatus(error: unknown): ApiStatus | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const body: unknown = error.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as ApiStatus;
    } catch {
      return { code: error.code, message: body };
    }
  }
  return (body as ApiStatus | undefined) ?? { code: error.code };
}

/** HTTP status code of an API error, or undefined. */
export function apiErrorCode(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

export const isNotFound = (error: unknown): boolean => apiErrorCode(error) === 404;
export const isConflict = (error: unknown): boolean => apiErrorCode(error) === 409;
