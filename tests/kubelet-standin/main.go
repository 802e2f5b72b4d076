// kubelet-standin plays the kubelet's side of the device-plugin API v1beta1, built from the
// official generated package (k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1) and grpc-go, so the
// plugin's tests exercise it against code that no one in this project wrote.
//
// It serves the Registration service on DIR/kubelet.sock. On each Register it answers as the
// kubelet does (an unsupported version is refused), then dials the plugin's endpoint in DIR, calls
// GetDevicePluginOptions and keeps a ListAndWatch stream open. Commands arrive as JSON lines on
// stdin; everything it sees is printed as JSON lines on stdout (messages in protojson with the
// proto's field names). It exits when stdin closes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	api "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// command is one line of stdin.
type command struct {
	// Op is options, preferred, allocate, prestart or restart.
	Op string `json:"op"`
	// Requests of a GetPreferredAllocation.
	Requests []struct {
		Available   []string `json:"available"`
		MustInclude []string `json:"must_include"`
		Size        int32    `json:"size"`
	} `json:"requests"`
	// Containers of an Allocate: the device IDs of each.
	Containers [][]string `json:"containers"`
	// Devices of a PreStartContainer.
	Devices []string `json:"devices"`
}

type standin struct {
	dir string
	out *json.Encoder
	mu  sync.Mutex

	server *grpc.Server
	// plugin is the connection to the endpoint registered last; cancel ends its ListAndWatch.
	plugin *grpc.ClientConn
	cancel context.CancelFunc
}

type registration struct {
	api.UnimplementedRegistrationServer
	s *standin
}

var marshal = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func (s *standin) emit(event string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := map[string]any{"event": event}
	for k, v := range fields {
		line[k] = v
	}
	if err := s.out.Encode(line); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin: stdout:", err)
		os.Exit(1)
	}
}

// message turns a protobuf message into a JSON value for emit.
func message(m proto.Message) json.RawMessage {
	b, err := marshal.Marshal(m)
	if err != nil {
		panic(err) // only a bug of protojson could get here
	}
	return b
}

func (s *standin) emitError(op string, err error) {
	st, _ := status.FromError(err)
	s.emit("error", map[string]any{"op": op, "code": st.Code().String(), "message": st.Message()})
}

func (r *registration) Register(_ context.Context, req *api.RegisterRequest) (*api.Empty, error) {
	s := r.s
	s.emit("register", map[string]any{"request": message(req)})
	supported := false
	for _, v := range api.SupportedVersions {
		supported = supported || v == req.Version
	}
	if !supported {
		return nil, fmt.Errorf("requested device plugin version %q is not supported", req.Version)
	}
	// The kubelet talks to the plugin only after Register has returned.
	go s.connect(req.Endpoint)
	return &api.Empty{}, nil
}

func (s *standin) connect(endpoint string) {
	conn, err := grpc.NewClient("unix://"+filepath.Join(s.dir, endpoint),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.emitError("dial", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
		_ = s.plugin.Close()
	}
	s.plugin, s.cancel = conn, cancel
	s.mu.Unlock()

	client := api.NewDevicePluginClient(conn)
	opts, err := client.GetDevicePluginOptions(ctx, &api.Empty{})
	if err != nil {
		s.emitError("options", err)
		return
	}
	s.emit("options", map[string]any{"endpoint": endpoint, "response": message(opts)})
	stream, err := client.ListAndWatch(ctx, &api.Empty{})
	if err != nil {
		s.emitError("list_and_watch", err)
		return
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if ctx.Err() == nil {
				s.emit("stream_ended", map[string]any{"endpoint": endpoint, "error": err.Error()})
			}
			return
		}
		s.emit("devices", map[string]any{"endpoint": endpoint, "response": message(resp)})
	}
}

// serve listens on kubelet.sock, first removing every socket in the directory as the kubelet's
// device manager does when it starts.
func (s *standin) serve() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type()&os.ModeSocket != 0 {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	path := filepath.Join(s.dir, "kubelet.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	s.server = grpc.NewServer()
	api.RegisterRegistrationServer(s.server, &registration{s: s})
	go func() { _ = s.server.Serve(lis) }()
	s.emit("listening", map[string]any{"socket": path})
	return nil
}

func (s *standin) stop() {
	s.server.Stop()
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
		_ = s.plugin.Close()
		s.plugin, s.cancel = nil, nil
	}
	s.mu.Unlock()
}

func (s *standin) run(c command) error {
	s.mu.Lock()
	conn := s.plugin
	s.mu.Unlock()
	if c.Op == "restart" {
		s.stop()
		return s.serve()
	}
	if conn == nil {
		return errors.New("no plugin has registered")
	}
	client := api.NewDevicePluginClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch c.Op {
	case "options":
		resp, err := client.GetDevicePluginOptions(ctx, &api.Empty{})
		if err != nil {
			s.emitError(c.Op, err)
		} else {
			s.emit("options", map[string]any{"response": message(resp)})
		}
	case "preferred":
		req := &api.PreferredAllocationRequest{}
		for _, r := range c.Requests {
			req.ContainerRequests = append(req.ContainerRequests, &api.ContainerPreferredAllocationRequest{
				AvailableDeviceIDs: r.Available, MustIncludeDeviceIDs: r.MustInclude, AllocationSize: r.Size,
			})
		}
		resp, err := client.GetPreferredAllocation(ctx, req)
		if err != nil {
			s.emitError(c.Op, err)
		} else {
			s.emit("preferred", map[string]any{"response": message(resp)})
		}
	case "allocate":
		req := &api.AllocateRequest{}
		for _, ids := range c.Containers {
			req.ContainerRequests = append(req.ContainerRequests, &api.ContainerAllocateRequest{DevicesIds: ids})
		}
		resp, err := client.Allocate(ctx, req)
		if err != nil {
			s.emitError(c.Op, err)
		} else {
			s.emit("allocate", map[string]any{"response": message(resp)})
		}
	case "prestart":
		ctx, cancel := context.WithTimeout(ctx, api.KubeletPreStartContainerRPCTimeoutInSecs*time.Second)
		defer cancel()
		resp, err := client.PreStartContainer(ctx, &api.PreStartContainerRequest{DevicesIds: c.Devices})
		if err != nil {
			s.emitError(c.Op, err)
		} else {
			s.emit("prestart", map[string]any{"response": message(resp)})
		}
	default:
		return fmt.Errorf("unknown op %q", c.Op)
	}
	return nil
}

func main() {
	dir := flag.String("dir", api.DevicePluginPath, "the device-plugin directory holding kubelet.sock")
	flag.Parse()
	s := &standin{dir: *dir, out: json.NewEncoder(os.Stdout)}
	if err := s.serve(); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
		os.Exit(1)
	}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		var c command
		if err := json.Unmarshal(lines.Bytes(), &c); err != nil {
			s.emit("error", map[string]any{"op": "parse", "message": err.Error()})
			continue
		}
		if err := s.run(c); err != nil {
			s.emit("error", map[string]any{"op": c.Op, "message": err.Error()})
		}
	}
	s.stop()
	_ = os.Remove(filepath.Join(s.dir, "kubelet.sock"))
}
