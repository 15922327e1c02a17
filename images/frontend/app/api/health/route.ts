// Liveness/readiness probe for the frontend pod (port 3000). Through the gateway, /api/* goes to
// the backend instead, so this route is only reached on the pod itself.
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ status: "ok" }, { headers: { "cache-control": "no-store" } });
}
