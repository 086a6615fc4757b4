package server

import (
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// hostService is HostService. Its calls answer UNIMPLEMENTED until host
// mode lands.
type hostService struct {
	vrmv1.UnimplementedHostServiceServer
	s *Server
}
