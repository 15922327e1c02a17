import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  // .next/standalone/server.js + .next/static + public/ are all a container needs.
  output: "standalone",
  // Trace from this folder, so that server.js sits at the root of .next/standalone.
  outputFileTracingRoot: here,
  reactStrictMode: true,
  poweredByHeader: false,
  eslint: { ignoreDuringBuilds: true },
  async rewrites() {
    // Without a gateway in front (docker compose, `next dev`), BACKEND_INTERNAL_URL (read at
    // build/dev time) proxies /api/* to the backend. Next's own /api/health still wins.
    const target = process.env.BACKEND_INTERNAL_URL;
    if (!target) return [];
    return { fallback: [{ source: "/api/:path*", destination: `${target.replace(/\/+$/, "")}/api/:path*` }] };
  },
};

export default nextConfig;
