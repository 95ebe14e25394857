// Package kfaketest holds what tests of several packages do to the
// embedded broker (kfake) through its control functions.
package kfaketest

import "github.com/twmb/franz-go/pkg/kmsg"

// Refuse is the answer to req that refuses every partition in it with
// code (a kerr code), so that a control function can fail a write without
// the broker appending anything.
func Refuse(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
