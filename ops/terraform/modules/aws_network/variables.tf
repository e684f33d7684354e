variable "name" {
  type        = string
  description = "Prefix of every resource name, e.g. inkbus-prod."
}

variable "cidr_block" {
  type        = string
  description = "CIDR of the VPC."
  default     = "10.40.0.0/16"
}

variable "azs" {
  type        = list(string)
  description = "Availability zones: one public and one private subnet in each (at least two for EKS and the ALB)."
  validation {
    condition     = length(var.azs) >= 2
    error_message = "EKS and the ALB need subnets in at least two availability zones."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
