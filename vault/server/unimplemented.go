package server

import (
	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
)

// brandService is BrandService. Its calls answer UNIMPLEMENTED until the
// consent issue lands; the contract is declared so that its shape is
// visible.
type brandService struct {
	vrmv1.UnimplementedBrandServiceServer
	s *Server
}

// hostService is HostService. Its calls answer UNIMPLEMENTED until host
// mode lands.
type hostService struct {
	vrmv1.UnimplementedHostServiceServer
	s *Server
}

// vaultInfoService is VaultInfoService. Its call answers UNIMPLEMENTED
// until the descriptor lands with the consent issue.
type vaultInfoService struct {
	vrmv1.UnimplementedVaultInfoServiceServer
	s *Server
}
