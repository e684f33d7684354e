variable "environment" {
  type        = string
  description = "Environment name: part of every resource name."
  default     = "prod"
}

variable "home_region" {
  type        = string
  description = "AWS region that holds the global parts (progress store, model registry, feedback engines)."
  default     = "eu-west-1"
}

variable "home_azs" {
  type        = list(string)
  description = "Availability zones used in the home region."
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

variable "second_region" {
  type        = string
  description = "AWS region of the second serving region."
  default     = "us-east-1"
}

variable "second_azs" {
  type        = list(string)
  description = "Availability zones used in the second region."
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

variable "home_cidr_block" {
  type        = string
  description = "VPC CIDR of the home region; must not overlap the second region's (the VPCs are peered)."
  default     = "10.40.0.0/16"
}

variable "second_cidr_block" {
  type        = string
  description = "VPC CIDR of the second region."
  default     = "10.41.0.0/16"
}

variable "home_certificate_arn" {
  type        = string
  description = "ACM certificate of the public host name, in the home region (an ALB uses its own region's)."
}

variable "second_certificate_arn" {
  type        = string
  description = "ACM certificate of the public host name, in the second region."
}

variable "zone_id" {
  type        = string
  description = "Route 53 hosted zone of the public host name."
}

variable "host_name" {
  type        = string
  description = "Public host name learners open; Route 53 answers with the region of lowest latency."
}

variable "home_alarm_topic_arn" {
  type        = string
  description = "SNS topic of the on-call alarms, in the home region."
}

variable "second_alarm_topic_arn" {
  type        = string
  description = "SNS topic of the on-call alarms, in the second region."
}
