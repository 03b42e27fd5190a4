# A private network: no VM has an external address. Outbound traffic (apt, the Kafka
# tarball) leaves through Cloud NAT; Google APIs (GCS, BigQuery) through Private Google
# Access. Ingress is denied unless a rule below admits it (a custom VPC's implied rule).

locals {
  kafka_port      = 9092
  controller_port = 9093
  # Google's IAP TCP forwarding range: `gcloud compute ssh --tunnel-through-iap` and
  # `gcloud compute start-iap-tunnel` arrive from here.
  iap_range = "35.235.240.0/20"
  kafka_clients = concat(
    [google_service_account.pipeline.email, google_service_account.simulator.email],
    var.serve_enabled ? [google_service_account.loader.email] : [],
  )
}

resource "google_compute_network" "vpc" {
  name                    = "${var.name}-vpc"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "vms" {
  name                     = "${var.name}-vms"
  network                  = google_compute_network.vpc.id
  region                   = var.region
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true
}

resource "google_compute_router" "nat" {
  name    = "${var.name}-nat"
  network = google_compute_network.vpc.id
  region  = var.region
}

resource "google_compute_router_nat" "nat" {
  name                               = "${var.name}-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
}

# Kafka clients: the pipeline and simulator VMs (and the serve VM, which reads the
# pipelines' window partials) reach the brokers' client port, identified by their
# service accounts, never by address ranges.
resource "google_compute_firewall" "kafka_clients" {
  name                    = "${var.name}-kafka-clients"
  network                 = google_compute_network.vpc.id
  direction               = "INGRESS"
  source_service_accounts = local.kafka_clients
  target_service_accounts = [google_service_account.broker.email]
  allow {
    protocol = "tcp"
    ports    = [tostring(local.kafka_port)]
  }
}

# KRaft: brokers talk to each other on the client and controller ports.
resource "google_compute_firewall" "kafka_quorum" {
  name                    = "${var.name}-kafka-quorum"
  network                 = google_compute_network.vpc.id
  direction               = "INGRESS"
  source_service_accounts = [google_service_account.broker.email]
  target_service_accounts = [google_service_account.broker.email]
  allow {
    protocol = "tcp"
    ports    = [tostring(local.kafka_port), tostring(local.controller_port)]
  }
}

# The dashboard, /metrics and /api/live: only through IAP (or the given ranges).
resource "google_compute_firewall" "dashboard" {
  name                    = "${var.name}-dashboard"
  network                 = google_compute_network.vpc.id
  direction               = "INGRESS"
  source_ranges           = concat([local.iap_range], var.dashboard_cidrs)
  target_service_accounts = [google_service_account.loader.email, google_service_account.pipeline.email]
  allow {
    protocol = "tcp"
    ports    = [tostring(var.dashboard_port)]
  }
}

# SSH only through IAP (`gcloud compute ssh VM --tunnel-through-iap`).
resource "google_compute_firewall" "ssh_iap" {
  name          = "${var.name}-ssh-iap"
  network       = google_compute_network.vpc.id
  direction     = "INGRESS"
  source_ranges = [local.iap_range]
  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}
