/** The metav1.Status the API server sends with an error, as far as Kmesh reads it. */
export interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ field?: string; message?: string; reason?: string }> };
}
