#!/usr/bin/env python3
"""Static checks of the terraform in deploy/gcp, parsed with python-hcl2.

`tofu validate` needs the google provider's schema, which cannot be fetched here, so this
checks what matters for this deployment without it:

  references   every var.X, local.X, data.T.N and T.N (resource) used anywhere resolves
               to a declaration; every declared variable is used and has a type and a
               description
  templates    every templatefile() names an existing file, and the variables the template
               uses are exactly the keys passed to it
  iam          every IAM grant is additive (*_iam_member, no *_iam_binding/_policy, no
               keys), goes to one of our service accounts, and its role is in that
               account's least-privilege list below; lake write roles carry an IAM
               condition on the object-name prefix
  firewall     no rule admits 0.0.0.0/0; a rule that opens a Kafka port (client or
               controller) admits sources by service account or tag only, never by range;
               a variable used as a source range must be validated against 0.0.0.0/0
  instances    every VM runs as one of our service accounts and has no external address
  buckets      uniform access, public access prevented, lifecycle rules

  check_terraform.py DIR                      exit 0, or 1 with one line per problem
  check_terraform.py DIR --render-config OUT  also renders musicaly.toml.tftpl with sample
                                              values into OUT (for `musicaly config check`)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import hcl2

# Least privilege, per service account (resource name of google_service_account) and
# grant resource type. Anything else fails the check.
ALLOWED_ROLES: dict[str, dict[str, set[str]]] = {
    "broker": {
        "google_project_iam_member": {"roles/logging.logWriter", "roles/monitoring.metricWriter"},
        "google_storage_bucket_iam_member": {"roles/storage.objectViewer"},
    },
    "simulator": {
        "google_project_iam_member": {"roles/logging.logWriter", "roles/monitoring.metricWriter"},
        "google_storage_bucket_iam_member": {"roles/storage.objectViewer"},
    },
    "pipeline": {
        "google_project_iam_member": {"roles/logging.logWriter", "roles/monitoring.metricWriter"},
        "google_storage_bucket_iam_member": {"roles/storage.objectViewer", "roles/storage.objectUser"},
    },
    "loader": {
        "google_project_iam_member": {
            "roles/logging.logWriter",
            "roles/monitoring.metricWriter",
            "roles/bigquery.jobUser",
        },
        "google_storage_bucket_iam_member": {"roles/storage.objectViewer"},
        "google_bigquery_dataset_iam_member": {"roles/bigquery.dataEditor"},
    },
}
# Roles that write objects: only with a condition on the object-name prefix.
PREFIX_ONLY_ROLES = {"roles/storage.objectUser", "roles/storage.objectCreator", "roles/storage.objectAdmin"}
FORBIDDEN_TYPES = re.compile(r"^google_.*_iam_(binding|policy)$|^google_service_account_key$")
KAFKA_PORTS = {9092, 9093}
# The only service accounts a Kafka port may admit: the brokers' clients and each other
# (the serve VM reads the pipelines' window partials from a topic).
KAFKA_SOURCES = {"pipeline", "simulator", "loader", "broker"}

REF = re.compile(
    r"(?<![\w.\"-])(?:"
    r"(?P<kind>var|local)\.(?P<name>[A-Za-z_][\w-]*)"
    r"|data\.(?P<dtype>[a-z][a-z0-9_]*)\.(?P<dname>[A-Za-z_][\w-]*)"
    r"|(?P<rtype>(?:google|random|null|tls|time)_[a-z0-9_]+|terraform_data)\.(?P<rname>[A-Za-z_][\w-]*)"
    r")"
)
TEMPLATEFILE = re.compile(r'templatefile\(\s*"\$\{path\.module\}/(?P<file>[^"]+)"\s*,\s*(?P<args>.*)\)')
TEMPLATE_VAR = re.compile(r"(?<!\$)\$\{\s*([A-Za-z_]\w*)")


def unquote(s):
    if isinstance(s, str) and len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1]
    return s


def strings(value):
    """Every string inside a parsed HCL value (expressions and literals)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "__is_block__":
                yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def refs(value):
    """(kind, name) of every reference: ("var", x), ("local", x), ("data", "t.n"), ("resource", "t.n")."""
    for s in strings(value):
        for m in REF.finditer(s):
            if m.group("kind"):
                yield m.group("kind"), m.group("name")
            elif m.group("dtype"):
                yield "data", f"{m.group('dtype')}.{m.group('dname')}"
            else:
                yield "resource", f"{m.group('rtype')}.{m.group('rname')}"


def blocks(parsed, kind):
    """(label..., body) of every block of a kind across files: variable/output -> (name, body)."""
    for item in parsed.get(kind, []):
        for label, body in item.items():
            if label == "__is_block__":
                continue
            label = unquote(label)
            if kind in ("resource", "data"):
                for name, inner in body.items():
                    if name != "__is_block__":
                        yield label, unquote(name), inner
            else:
                yield label, body


class Module:
    def __init__(self, directory: Path):
        self.dir = directory
        self.files = sorted(directory.glob("*.tf"))
        self.errors: list[str] = []
        self.variables: dict[str, dict] = {}
        self.locals: dict[str, object] = {}
        self.resources: dict[str, dict] = {}
        self.data: dict[str, dict] = {}
        self.other: list[tuple[str, object]] = []  # (where, body) of outputs, providers, terraform
        for f in self.files:
            try:
                with f.open() as fh:
                    parsed = hcl2.load(fh)
            except Exception as e:  # the parser's errors have no common base class
                self.errors.append(f"{f.name}: does not parse: {e}")
                continue
            for name, body in blocks(parsed, "variable"):
                self.variables[name] = body
            for item in parsed.get("locals", []):
                for k, v in item.items():
                    if k != "__is_block__":
                        self.locals[k] = v
            for rtype, name, body in blocks(parsed, "resource"):
                self.resources[f"{rtype}.{name}"] = body
            for dtype, name, body in blocks(parsed, "data"):
                self.data[f"{dtype}.{name}"] = body
            for kind in ("output", "provider", "terraform", "module"):
                for item in parsed.get(kind, []):
                    self.other.append((f"{f.name}: {kind}", item))
        if not self.files:
            self.errors.append(f"{directory}: no .tf files")

    def error(self, msg):
        self.errors.append(msg)

    def everything(self):
        for name, body in self.variables.items():
            yield f"variable {name}", body
        for name, v in self.locals.items():
            yield f"local {name}", v
        for name, body in self.resources.items():
            yield name, body
        for name, body in self.data.items():
            yield f"data.{name}", body
        yield from self.other

    # -- references ---------------------------------------------------------------------
    def check_references(self):
        used_vars = set()
        for where, body in self.everything():
            for kind, name in refs(body):
                if kind == "var":
                    used_vars.add(name)
                    if name not in self.variables:
                        self.error(f"{where}: var.{name} is not declared (declare it in variables.tf)")
                elif kind == "local" and name not in self.locals:
                    self.error(f"{where}: local.{name} is not defined in any locals block")
                elif kind == "data" and name not in self.data:
                    self.error(f"{where}: data.{name} is not declared")
                elif kind == "resource" and name not in self.resources:
                    self.error(f"{where}: {name} is not a resource of this module")
        for name, body in self.variables.items():
            if name not in used_vars:
                self.error(f"variable {name}: declared but never used")
            if not unquote(body.get("description", "")).strip():
                self.error(f"variable {name}: has no description")
            if "type" not in body:
                self.error(f"variable {name}: has no type")

    # -- templates ----------------------------------------------------------------------
    def local_keys(self, name):
        v = self.locals.get(name)
        return set(k for k in v if k != "__is_block__") if isinstance(v, dict) else None

    def template_args(self, args: str):
        """Keys passed to a template: local.X, merge(local.X, {k = ...}, ...) or {k = ...}."""
        keys = set()
        for m in re.finditer(r"local\.([A-Za-z_]\w*)", args):
            k = self.local_keys(m.group(1))
            if k is None:
                return None
            keys |= k
        for obj in re.finditer(r"\{([^{}]*)\}", args):
            keys |= set(re.findall(r"(?:^|[,\s])([A-Za-z_]\w*)\s*=(?!=)", obj.group(1)))
        return keys

    def check_templates(self):
        for where, body in self.everything():
            for s in strings(body):
                for m in TEMPLATEFILE.finditer(s):
                    path = self.dir / m.group("file")
                    if not path.is_file():
                        self.error(f"{where}: templatefile {m.group('file')} does not exist")
                        continue
                    text = path.read_text()
                    if "%{" in text:
                        self.error(f"{m.group('file')}: template directives (%{{) are not checked: avoid them")
                    used = set(TEMPLATE_VAR.findall(text))
                    passed = self.template_args(m.group("args"))
                    if passed is None:
                        self.error(f"{where}: templatefile {m.group('file')}: cannot tell the variables passed")
                        continue
                    for v in sorted(used - passed):
                        self.error(f"{m.group('file')}: uses ${{{v}}}, which {where} does not pass")
                    for v in sorted(passed - used):
                        self.error(f"{where}: passes {v} to {m.group('file')}, which does not use it")

    # -- IAM ----------------------------------------------------------------------------
    def accounts_in(self, value, seen=None):
        """Service accounts (google_service_account names) a value refers to, through locals."""
        seen = set() if seen is None else seen
        found = set()
        for kind, name in refs(value):
            if kind == "resource" and name.startswith("google_service_account."):
                found.add(name.split(".", 1)[1])
            elif kind == "local" and name not in seen and name in self.locals:
                seen.add(name)
                found |= self.accounts_in(self.locals[name], seen)
        return found

    def expand(self, text, depth=0):
        """The text with the locals it refers to appended, recursively (for pattern checks)."""
        if depth > 10:
            return text
        return text + "".join(
            self.expand(str(self.locals.get(n, "")), depth + 1) for k, n in refs(text) if k == "local"
        )

    def check_iam(self):
        for name, body in self.resources.items():
            rtype = name.split(".", 1)[0]
            if FORBIDDEN_TYPES.match(rtype):
                self.error(f"{name}: {rtype} is not allowed (authoritative IAM or a key): use *_iam_member")
                continue
            if not rtype.endswith("_iam_member"):
                continue
            role = unquote(body.get("role", ""))
            member = body.get("member", "")
            accounts = self.accounts_in(member)
            if "each.value" in str(member) or "each.key" in str(member):
                accounts |= self.accounts_in(body.get("for_each", ""))
            if not accounts:
                self.error(f"{name}: member {member} is not one of this module's service accounts")
            if not role.startswith("roles/"):
                self.error(f"{name}: role {role!r} must be a literal roles/... (checked against the allowed list)")
                continue
            for sa in sorted(accounts):
                allowed = ALLOWED_ROLES.get(sa)
                if allowed is None:
                    self.error(f"{name}: service account {sa} has no least-privilege list in check_terraform.py")
                elif role not in allowed.get(rtype, set()):
                    self.error(
                        f"{name}: {role} on {rtype} is not allowed for {sa} "
                        f"(allowed: {', '.join(sorted(allowed.get(rtype, set()))) or 'none'})"
                    )
            if role in PREFIX_ONLY_ROLES:
                cond = body.get("condition", [{}])
                expr = str(cond[0].get("expression", "")) if cond else ""
                resolved = self.expand(expr)
                if "startsWith(" not in resolved or "/objects/" not in resolved:
                    self.error(f"{name}: {role} writes objects: it needs a condition on the object-name prefix (resource.name.startsWith(\".../objects/PREFIX/\"))")

    # -- firewall -----------------------------------------------------------------------
    def number(self, expr):
        """The value of a port expression: a literal, tostring(local.x), var.x's default."""
        s = str(unquote(expr)).strip()
        s = re.sub(r"^\$\{(.*)\}$", r"\1", s)
        s = re.sub(r"^tostring\((.*)\)$", r"\1", s).strip()
        m = re.fullmatch(r"local\.(\w+)", s)
        if m:
            return self.number(self.locals.get(m.group(1), ""))
        m = re.fullmatch(r"var\.(\w+)", s)
        if m:
            return self.number(self.variables.get(m.group(1), {}).get("default", ""))
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", s)
        if m:
            lo = int(m.group(1))
            return range(lo, int(m.group(2) or lo) + 1)
        return None

    def check_firewalls(self):
        for name, body in self.resources.items():
            if not name.startswith("google_compute_firewall."):
                continue
            direction = unquote(body.get("direction", "INGRESS"))
            if direction != "INGRESS":
                continue
            ranges = body.get("source_ranges", [])
            range_text = " ".join(strings(ranges))
            if "0.0.0.0/0" in range_text:
                self.error(f"{name}: admits 0.0.0.0/0 (the whole internet)")
            for kind, var in refs(ranges):
                if kind == "var":
                    conditions = " ".join(str(v.get("condition", "")) for v in self.variables.get(var, {}).get("validation", []))
                    if "0.0.0.0/0" not in conditions:
                        self.error(f"{name}: source range var.{var} is not validated against 0.0.0.0/0")
                elif kind == "local":
                    if "0.0.0.0/0" in str(self.locals.get(var, "")):
                        self.error(f"{name}: source range local.{var} holds 0.0.0.0/0")
            opens_kafka = False
            for allow in body.get("allow", []):
                proto = unquote(allow.get("protocol", ""))
                ports = allow.get("ports")
                if proto in ("all", "tcp") and not ports:
                    opens_kafka = True  # every port
                for p in ports or []:
                    r = self.number(p)
                    if r is None:
                        self.error(f"{name}: cannot evaluate port {p}")
                    elif KAFKA_PORTS & set(r):
                        opens_kafka = True
            if opens_kafka:
                if ranges:
                    self.error(f"{name}: opens a Kafka port ({', '.join(map(str, sorted(KAFKA_PORTS)))}) to source ranges: admit the pipeline/simulator VMs by service account or tag only")
                if not body.get("source_service_accounts") and not body.get("source_tags"):
                    self.error(f"{name}: opens a Kafka port without source service accounts or tags (that admits every source)")
                extra = self.accounts_in(body.get("source_service_accounts", [])) - KAFKA_SOURCES
                if extra:
                    self.error(f"{name}: opens a Kafka port to {', '.join(sorted(extra))} (allowed: {', '.join(sorted(KAFKA_SOURCES))})")

    # -- instances ----------------------------------------------------------------------
    def check_instances(self):
        for name, body in self.resources.items():
            if not name.startswith(("google_compute_instance.", "google_compute_instance_template.")):
                continue
            sa = body.get("service_account", [])
            if not sa or not self.accounts_in(sa[0].get("email", "")):
                self.error(f"{name}: runs as no service account of this module (the default compute account has Editor)")
            for nic in body.get("network_interface", []):
                if "access_config" in nic:
                    self.error(f"{name}: has an external address (access_config): VMs are private, use IAP and Cloud NAT")

    # -- buckets ------------------------------------------------------------------------
    def check_buckets(self):
        for name, body in self.resources.items():
            if not name.startswith("google_storage_bucket."):
                continue
            if str(body.get("uniform_bucket_level_access", "")).lower() != "true":
                self.error(f"{name}: needs uniform_bucket_level_access = true (IAM conditions, no object ACLs)")
            if unquote(body.get("public_access_prevention", "")) != "enforced":
                self.error(f"{name}: needs public_access_prevention = \"enforced\"")
            rules = body.get("lifecycle_rule", []) + [
                d for item in body.get("dynamic", []) for label, d in item.items() if unquote(label) == "lifecycle_rule"
            ]
            if not rules:
                self.error(f"{name}: has no lifecycle rules (retention, storage class, aborted uploads)")

    def check(self):
        if not self.errors:
            self.check_references()
            self.check_templates()
            self.check_iam()
            self.check_firewalls()
            self.check_instances()
            self.check_buckets()
        return self.errors


SAMPLE_CONFIG = {
    "brokers": "musicaly-broker-0.europe-west1-b.c.acme-music.internal:9092,musicaly-broker-1.europe-west1-b.c.acme-music.internal:9092",
    "group_id": "musicaly",
    "lake_path": "gs://acme-music-musicaly-0a1b2c3d/lake",
    "web_port": "9464",
    "memory_limit_mb": "12288",
    "nusers": "100000",
    "warehouse_enabled": "false",
}


def render(template: Path, values: dict) -> str:
    text = template.read_text()
    missing = set(TEMPLATE_VAR.findall(text)) - set(values)
    if missing:
        raise SystemExit(f"{template}: no sample value for {', '.join(sorted(missing))}")
    out = re.sub(r"(?<!\$)\$\{\s*(\w+)\s*\}", lambda m: values[m.group(1)], text)
    return out.replace("$${", "${")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--render-config", type=Path, metavar="OUT", help="write musicaly.toml.tftpl rendered with sample values")
    a = ap.parse_args(argv)
    errors = Module(a.dir).check()
    for e in errors:
        print(f"check_terraform: {e}", file=sys.stderr)
    if a.render_config:
        a.render_config.write_text(render(a.dir / "musicaly.toml.tftpl", SAMPLE_CONFIG))
    if errors:
        return 1
    print(f"check_terraform: {a.dir}: references, templates, IAM, firewalls, instances and buckets OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
