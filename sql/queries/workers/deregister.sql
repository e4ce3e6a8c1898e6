-- workers/deregister: $1 worker id.
DELETE FROM outbound.workers WHERE id = $1
