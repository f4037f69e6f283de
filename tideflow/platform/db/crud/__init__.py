"""Every query the API makes, each scoped to a tenant or an app the caller already holds."""
