// Where the sentiment API lives. Deployment rewrites this file (e.g. the S3-hosted page points at
// the load balancer); the default, "", means the page's own origin, as under `bentoml serve` at /ui/.
export const API_BASE_URL = "";
