// Reads `helm template` output on stdin and validates every object against the Kubernetes API
// schemas (kubernetes-models; Prometheus Operator CRDs from @kubernetes-models/prometheus-operator).
// Exits 1, naming the object and the field, on the first invalid or unknown object.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

const loaders = {
  "v1": () => import("kubernetes-models/v1"),
  "apps/v1": () => import("kubernetes-models/apps/v1"),
  "monitoring.coreos.com/v1": () => import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"),
};

const docs = yaml.loadAll(readFileSync(0, "utf8")).filter((d) => d && typeof d === "object");
let count = 0;
for (const doc of docs) {
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const load = loaders[doc.apiVersion];
  if (!load) {
    console.error(`${name}: no schema for apiVersion ${doc.apiVersion}`);
    process.exit(1);
  }
  const Model = (await load())[doc.kind];
  if (!Model) {
    console.error(`${name}: no schema for kind ${doc.kind} in ${doc.apiVersion}`);
    process.exit(1);
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    console.error(`${name}: ${e.message}`);
    process.exit(1);
  }
  count++;
}
console.log(`${count} objects valid`);
