# The VMs: brokers, the pipeline group, the optional simulator and the serve VM.
# Every VM runs the same startup script (startup.sh.tftpl): it installs the package and
# writes /etc/musicaly/musicaly.toml from the instance's `musicaly-config` metadata, then
# starts the unit of its `musicaly-role`. It runs again at every boot, so a changed
# package_url or config (terraform apply) takes effect with a reboot or
# `sudo google_metadata_script_runner startup`.

locals {
  # Internal DNS names (zonal DNS): stable across reboots and re-creation, unlike addresses.
  broker_names = [for i in range(var.broker_count) : "${var.name}-broker-${i}"]
  broker_hosts = [for n in local.broker_names : "${n}.${var.zone}.c.${var.project}.internal"]
  brokers      = join(",", [for h in local.broker_hosts : "${h}:${local.kafka_port}"])
  # KRaft controller quorum: node id i on broker i.
  controller_voters = join(",", [for i, h in local.broker_hosts : "${i}@${h}:${local.controller_port}"])
  lake_path         = "gs://${google_storage_bucket.lake.name}/${var.lake_prefix}"

  startup_vars = {
    package_url = var.package_url
  }
  startup_script = templatefile("${path.module}/startup.sh.tftpl", local.startup_vars)

  config_common = {
    brokers         = local.brokers
    group_id        = var.name
    lake_path       = local.lake_path
    web_port        = var.dashboard_port
    memory_limit_mb = var.pipeline_memory_limit_mb
    nusers          = var.simulator_users
  }
  # With one pipeline VM it loads the warehouse itself; in a group the serve VM does
  # (one loader over the whole lake), so the pipelines only write the lake.
  pipeline_config = templatefile("${path.module}/musicaly.toml.tftpl", merge(local.config_common, {
    warehouse_enabled = var.pipeline_count == 1 || !var.serve_enabled
  }))
  serve_config = templatefile("${path.module}/musicaly.toml.tftpl", merge(local.config_common, {
    warehouse_enabled = true
  }))

  broker_vars = {
    cluster_id        = random_id.kafka_cluster.b64_url
    controller_voters = local.controller_voters
    kafka_tarball_url = var.kafka_tarball_url
    kafka_port        = local.kafka_port
    controller_port   = local.controller_port
    partitions        = var.kafka_partitions
    replication       = min(var.broker_count, 3)
    retention_hours   = var.kafka_retention_hours
  }
}

# The KRaft cluster id (22 characters of url-safe base64, as `kafka-storage.sh random-uuid`).
resource "random_id" "kafka_cluster" {
  byte_length = 16
}

resource "google_compute_instance" "broker" {
  count        = var.broker_count
  name         = local.broker_names[count.index]
  machine_type = var.broker_machine_type
  zone         = var.zone
  labels       = merge(var.labels, { role = "broker" })

  boot_disk {
    initialize_params {
      image = var.image
      size  = var.broker_disk_gb
      type  = "pd-balanced"
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.vms.id
  }

  metadata = {
    musicaly-role      = "broker"
    musicaly-node-id   = tostring(count.index)
    musicaly-node-host = local.broker_hosts[count.index]
    startup-script     = templatefile("${path.module}/broker.sh.tftpl", local.broker_vars)
    enable-oslogin     = "TRUE"
  }

  service_account {
    email  = google_service_account.broker.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot = true
  }

  allow_stopping_for_update = true
}

resource "google_compute_instance" "pipeline" {
  count        = var.pipeline_count
  name         = "${var.name}-pipeline-${count.index}"
  machine_type = var.pipeline_machine_type
  zone         = var.zone
  labels       = merge(var.labels, { role = "pipeline" })

  boot_disk {
    initialize_params {
      image = var.image
      size  = 50
      type  = "pd-balanced"
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.vms.id
  }

  metadata = {
    musicaly-role   = "pipeline"
    musicaly-config = local.pipeline_config
    startup-script  = local.startup_script
    enable-oslogin  = "TRUE"
  }

  service_account {
    email  = google_service_account.pipeline.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot = true
  }

  allow_stopping_for_update = true
  depends_on                = [google_compute_instance.broker, google_storage_bucket_iam_member.pipeline_lake_writer]
}

resource "google_compute_instance" "simulator" {
  count        = var.simulator_enabled ? 1 : 0
  name         = "${var.name}-simulator"
  machine_type = "e2-standard-2"
  zone         = var.zone
  labels       = merge(var.labels, { role = "simulator" })

  boot_disk {
    initialize_params {
      image = var.image
      size  = 20
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.vms.id
  }

  metadata = {
    musicaly-role   = "simulate"
    musicaly-config = local.pipeline_config
    startup-script  = local.startup_script
    enable-oslogin  = "TRUE"
  }

  service_account {
    email  = google_service_account.simulator.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot = true
  }

  allow_stopping_for_update = true
  depends_on                = [google_compute_instance.broker]
}

resource "google_compute_instance" "serve" {
  count        = var.serve_enabled ? 1 : 0
  name         = "${var.name}-serve"
  machine_type = "e2-standard-2"
  zone         = var.zone
  labels       = merge(var.labels, { role = "serve" })

  boot_disk {
    initialize_params {
      image = var.image
      size  = 50
      type  = "pd-balanced"
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.vms.id
  }

  metadata = {
    musicaly-role   = "serve"
    musicaly-config = local.serve_config
    startup-script  = local.startup_script
    enable-oslogin  = "TRUE"
  }

  service_account {
    email  = google_service_account.loader.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot = true
  }

  allow_stopping_for_update = true
  depends_on                = [google_compute_instance.broker, google_storage_bucket_iam_member.loader_lake_reader]
}
