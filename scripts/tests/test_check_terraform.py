"""Unit tests of check_terraform.py: it passes deploy/gcp and fails each way the
deployment could be broken (a copy of deploy/gcp with one edit per test).

  python -m unittest scripts/tests/test_check_terraform.py    (python-hcl2 installed)
"""

import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import check_terraform  # noqa: E402

GCP = Path(__file__).resolve().parents[2] / "deploy" / "gcp"

FIREWALL_OPEN = """
resource "google_compute_firewall" "kafka_world" {
  name          = "kafka-world"
  network       = google_compute_network.vpc.id
  source_ranges = ["0.0.0.0/0"]
  allow {
    protocol = "tcp"
    ports    = ["9092"]
  }
}
"""


class CheckTerraform(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.dir = self.tmp / "gcp"
        shutil.copytree(GCP, self.dir)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def edit(self, file, old, new):
        p = self.dir / file
        text = p.read_text()
        self.assertIn(old, text, f"test setup: {old!r} not in {file}")
        p.write_text(text.replace(old, new, 1))

    def append(self, file, text):
        with (self.dir / file).open("a") as f:
            f.write(text)

    def errors(self):
        return "\n".join(check_terraform.Module(self.dir).check())

    def assertFails(self, *needles):
        errors = self.errors()
        self.assertTrue(errors, "the checker passed a broken module")
        for n in needles:
            self.assertIn(n, errors)

    def test_the_deployment_passes(self):
        self.assertEqual(self.errors(), "")

    def test_undeclared_variable(self):
        self.edit("compute.tf", "machine_type = var.broker_machine_type", "machine_type = var.broker_machine")
        self.assertFails("var.broker_machine is not declared", "variable broker_machine_type: declared but never used")

    def test_unresolved_resource(self):
        self.edit("iam.tf", "bucket = google_storage_bucket.lake.name", "bucket = google_storage_bucket.lakes.name")
        self.assertFails("google_storage_bucket.lakes is not a resource")

    def test_unresolved_local(self):
        self.edit("network.tf", "target_service_accounts = [google_service_account.broker.email]", "target_service_accounts = local.brokers_sa")
        self.assertFails("local.brokers_sa is not defined")

    def test_variable_without_description(self):
        self.edit("variables.tf", 'description = "Machine type of the broker VMs."', "")
        self.assertFails("variable broker_machine_type: has no description")

    def test_broad_role(self):
        self.edit("iam.tf", 'role    = "roles/bigquery.jobUser"', 'role    = "roles/bigquery.admin"')
        self.assertFails("roles/bigquery.admin on google_project_iam_member is not allowed for loader")

    def test_role_on_the_wrong_account(self):
        self.edit(
            "iam.tf",
            "member  = \"serviceAccount:${google_service_account.loader.email}\"\n}\n\n# ... and writes",
            "member  = \"serviceAccount:${google_service_account.pipeline.email}\"\n}\n\n# ... and writes",
        )
        self.assertFails("roles/bigquery.jobUser on google_project_iam_member is not allowed for pipeline")

    def test_lake_writer_without_prefix_condition(self):
        self.edit("iam.tf", "    expression  = local.lake_condition\n", "    expression  = \"true\"\n")
        self.assertFails("pipeline_lake_writer: roles/storage.objectUser writes objects: it needs a condition")

    def test_authoritative_binding(self):
        self.append(
            "iam.tf",
            'resource "google_project_iam_binding" "x" {\n  project = var.project\n  role    = "roles/viewer"\n  members = []\n}\n',
        )
        self.assertFails("google_project_iam_binding is not allowed")

    def test_kafka_open_to_the_world(self):
        self.append("network.tf", FIREWALL_OPEN)
        self.assertFails("kafka_world: admits 0.0.0.0/0", "kafka_world: opens a Kafka port")

    def test_kafka_open_to_a_range(self):
        self.edit(
            "network.tf",
            "  source_service_accounts = local.kafka_clients\n",
            '  source_ranges           = [var.subnet_cidr]\n',
        )
        self.assertFails("kafka_clients: opens a Kafka port", "kafka_clients: source range var.subnet_cidr is not validated")

    def test_kafka_open_to_another_account(self):
        self.append("iam.tf", 'resource "google_service_account" "etl" {\n  account_id = "etl"\n}\n')
        self.edit("network.tf", "    [google_service_account.pipeline.email, google_service_account.simulator.email],",
                  "    [google_service_account.pipeline.email, google_service_account.etl.email],")
        self.assertFails("kafka_clients: opens a Kafka port to etl")

    def test_kafka_all_ports(self):
        self.edit("network.tf", '    ports    = [tostring(var.dashboard_port)]\n', "")
        self.assertFails("google_compute_firewall.dashboard: opens a Kafka port")

    def test_unvalidated_dashboard_range(self):
        self.edit("variables.tf", ' && c != "0.0.0.0/0"', "")
        self.assertFails("source range var.dashboard_cidrs is not validated against 0.0.0.0/0")

    def test_template_variable_not_passed(self):
        self.append("musicaly.toml.tftpl", '\n# ${zone}\n')
        self.assertFails("musicaly.toml.tftpl: uses ${zone}")

    def test_template_variable_passed_but_unused(self):
        self.edit("startup.sh.tftpl", "package_url='${package_url}'", "package_url=''")
        self.assertFails("passes package_url to startup.sh.tftpl, which does not use it")

    def test_missing_template(self):
        (self.dir / "broker.sh.tftpl").unlink()
        self.assertFails("templatefile broker.sh.tftpl does not exist")

    def test_external_address(self):
        self.edit("compute.tf", "    subnetwork = google_compute_subnetwork.vms.id\n", "    subnetwork = google_compute_subnetwork.vms.id\n    access_config {}\n")
        self.assertFails("google_compute_instance.broker: has an external address")

    def test_default_compute_account(self):
        self.edit("compute.tf", "email  = google_service_account.simulator.email", 'email  = "default"')
        self.assertFails("google_compute_instance.simulator: runs as no service account of this module")

    def test_bucket_without_lifecycle_or_uniform_access(self):
        self.append("storage.tf", 'resource "google_storage_bucket" "scratch" {\n  name     = "scratch"\n  location = var.region\n}\n')
        self.assertFails(
            "google_storage_bucket.scratch: needs uniform_bucket_level_access",
            "google_storage_bucket.scratch: needs public_access_prevention",
            "google_storage_bucket.scratch: has no lifecycle rules",
        )

    def test_syntax_error(self):
        self.append("outputs.tf", 'output "x" {\n  value = \n')
        self.assertFails("outputs.tf: does not parse")


if __name__ == "__main__":
    unittest.main()
