variable "environment" {
  type        = string
  description = "Environment name: part of every resource name, and the kustomize overlay to deploy."
  default     = "prod"
}

variable "aws_region" {
  type        = string
  description = "AWS region of the serving side."
  default     = "eu-west-1"
}

variable "azs" {
  type        = list(string)
  description = "Availability zones used in the AWS region."
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate of the public host name."
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic of the on-call alarms."
}

variable "gcp_project_id" {
  type        = string
  description = "GCP project of the training side."
}

variable "gcp_region" {
  type        = string
  description = "GCP region of the training side."
  default     = "europe-west4"
}
