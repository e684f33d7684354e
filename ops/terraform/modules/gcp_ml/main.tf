# Inkbus's "GCP for ML" half: datasets and models in GCS, GPU training on a Compute Engine instance template
# (`inkbus train --device cuda`, then the artifact is copied to the serving side's S3 bucket).

resource "google_service_account" "training" {
  project      = var.project_id
  account_id   = "${var.name}-training"
  display_name = "Inkbus training jobs"
}

resource "google_storage_bucket" "ml" {
  #checkov:skip=CKV_GCP_62:only the training service account reads and writes it; admin audit logs record IAM changes
  project                     = var.project_id
  name                        = "${var.name}-ml-${var.project_id}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true # datasets and checkpoints are never silently overwritten
  }
  lifecycle_rule {
    condition {
      age            = 30
      matches_prefix = ["checkpoints/"]
    }
    action {
      type = "Delete" # resumable checkpoints are only needed while a run lasts
    }
  }
  labels = var.labels
}

# Training reads datasets and writes checkpoints and models: object admin on this bucket only.
resource "google_storage_bucket_iam_member" "training" {
  bucket = google_storage_bucket.ml.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.training.email}"
}

# A deployment serving from GCP keeps its model registry in this bucket (gs://<bucket>/registry, docs/LEARNING_LOOP.md):
# the serving identity only reads it, through Cloud Storage's S3-compatible API with an HMAC key; the learning loop
# runs as the training identity above, which writes it.
resource "google_service_account" "serving" {
  project      = var.project_id
  account_id   = "${var.name}-serving"
  display_name = "Inkbus workers and edges (read the model registry)"
}

resource "google_storage_bucket_iam_member" "serving" {
  bucket = google_storage_bucket.ml.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.serving.email}"
}

resource "google_storage_hmac_key" "serving" {
  project               = var.project_id
  service_account_email = google_service_account.serving.email
}

resource "google_compute_network" "training" {
  project                 = var.project_id
  name                    = "${var.name}-training"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "training" {
  project                  = var.project_id
  name                     = "${var.name}-training"
  region                   = var.region
  network                  = google_compute_network.training.id
  ip_cidr_range            = "10.60.0.0/24"
  private_ip_google_access = true # reach GCS without public addresses
  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
  }
}

# The network's only way in: SSH through Identity-Aware Proxy (its fixed range); everything else stays closed.
resource "google_compute_firewall" "iap_ssh" {
  project       = var.project_id
  name          = "${var.name}-training-iap-ssh"
  network       = google_compute_network.training.id
  direction     = "INGRESS"
  source_ranges = ["35.235.240.0/20"]
  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_instance_template" "training" {
  project      = var.project_id
  name_prefix  = "${var.name}-training-"
  machine_type = var.machine_type
  region       = var.region
  disk {
    source_image = var.training_image
    disk_size_gb = 200
    boot         = true
    auto_delete  = true
  }
  guest_accelerator {
    type  = var.gpu_type
    count = var.gpu_count
  }
  scheduling {
    on_host_maintenance = "TERMINATE" # required with GPUs
    provisioning_model  = "SPOT"      # training resumes from its last checkpoint, so preemption only delays it
    preemptible         = true
    automatic_restart   = false
  }
  network_interface {
    subnetwork = google_compute_subnetwork.training.id # no access_config: no public IP
  }
  service_account {
    email  = google_service_account.training.email
    scopes = ["cloud-platform"]
  }
  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }
  metadata = {
    block-project-ssh-keys = "true"
    enable-oslogin         = "TRUE"
  }
  labels = var.labels
  lifecycle {
    create_before_destroy = true
  }
}
