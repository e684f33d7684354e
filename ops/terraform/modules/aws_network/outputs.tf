output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's CIDR, for security group rules."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets: the ALB."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets: EKS nodes and Amazon MQ."
  value       = aws_subnet.private[*].id
}

output "private_route_table_id" {
  description = "Route table of the private subnets: routes to peered VPCs go here."
  value       = aws_route_table.private.id
}
