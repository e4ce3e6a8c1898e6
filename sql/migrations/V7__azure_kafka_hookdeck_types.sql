-- V7: destinations may be of the types azure_servicebus, kafka and hookdeck
-- too (Outpost's nine types). The constraint names the same invariant as V1's.
ALTER TABLE outbound.destinations DROP CONSTRAINT destinations_type_known;
ALTER TABLE outbound.destinations ADD CONSTRAINT destinations_type_known CHECK (type IN
    ('webhook', 'aws_sqs', 'aws_s3', 'aws_kinesis', 'rabbitmq', 'gcp_pubsub',
     'azure_servicebus', 'kafka', 'hookdeck'));
