output "bucket" {
  description = "GCS bucket of datasets (INKBUS_DATA_DIR is synced from gs://<this>/data), checkpoints and models."
  value       = google_storage_bucket.ml.name
}

output "instance_template" {
  description = "Instance template of a GPU training run (`gcloud compute instances create --source-instance-template`)."
  value       = google_compute_instance_template.training.self_link
}

output "training_service_account" {
  description = "Identity of the training instances."
  value       = google_service_account.training.email
}
