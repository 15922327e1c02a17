import TodoApp from "../components/TodoApp";

// Rendered per request so that NEXT_PUBLIC_API_BASE can be changed on a running container
// (Kubernetes env) without rebuilding the image; a value given at build time is the fallback.
export const dynamic = "force-dynamic";

const API_BASE_VAR = "NEXT_PUBLIC_API_BASE";

export default function Page() {
  const runtime = process.env[API_BASE_VAR];
  const apiBase = runtime ?? process.env.NEXT_PUBLIC_API_BASE ?? "";
  return <TodoApp apiBase={apiBase} />;
}
