/** The bench's second login, kept to its own torrents (policy tenant), for the tenant-list scenario. */
export const TENANT_USER = 'tenant';
export const TENANT_PASSWORD = 'tenant-password-not-secret';
export const TENANT_AUTHORIZATION = `Basic ${Buffer.from(`${TENANT_USER}:${TENANT_PASSWORD}`).toString('base64')}`;
/** How many of the bench's torrents the tenant owns: "its 100 among 2,000". */
export const TENANT_TORRENTS = 100;
