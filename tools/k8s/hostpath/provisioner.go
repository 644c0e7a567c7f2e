// Package hostpath is a minimal dynamic PersistentVolume provisioner for the
// single-node test cluster that `make k8s` starts. Rancher's
// local-path-provisioner is not available here (no registry), and a test
// cluster on one machine needs nothing more than a directory per claim: for
// every pending claim of a StorageClass whose provisioner is Name it creates
// a directory under Root and a hostPath PersistentVolume pre-bound to that
// claim; when such a volume is released (its claim deleted) it removes the
// directory and the volume, as the Delete reclaim policy promises.
//
// It polls instead of watching: the cluster has a handful of claims, a poll a
// second costs nothing, and a poll loop has no watch-reconnect logic to get
// wrong.
package hostpath

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Name is the provisioner name a StorageClass uses to select this provisioner.
const Name = "opencoder.dev/hostpath"

// annProvisionedBy marks volumes this provisioner made, as external
// provisioners do, so the PV controller leaves their deletion to us.
const annProvisionedBy = "pv.kubernetes.io/provisioned-by"

// Provisioner creates and deletes hostPath volumes for claims.
type Provisioner struct {
	Client kubernetes.Interface
	// Root is the host directory that holds one directory per volume.
	Root string
	// Interval is the time between two polls.
	Interval time.Duration
	Logf     func(format string, args ...any)
}

// Run polls until ctx is done. Errors of one round are logged and retried on
// the next.
func (p *Provisioner) Run(ctx context.Context) error {
	if p.Logf == nil {
		p.Logf = log.Printf
	}
	if p.Interval <= 0 {
		p.Interval = time.Second
	}
	if err := os.MkdirAll(p.Root, 0o755); err != nil {
		return fmt.Errorf("create volume root: %w", err)
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if err := p.Sync(ctx); err != nil && ctx.Err() == nil {
			p.Logf("sync: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sync does one round: provision every pending claim of our classes, delete
// every released volume of ours.
func (p *Provisioner) Sync(ctx context.Context) error {
	classes, err := p.Client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list storage classes: %w", err)
	}
	ours := map[string]storagev1.StorageClass{}
	defaultClass := ""
	for _, sc := range classes.Items {
		if sc.Provisioner != Name {
			continue
		}
		ours[sc.Name] = sc
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			defaultClass = sc.Name
		}
	}
	claims, err := p.Client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list claims: %w", err)
	}
	for i := range claims.Items {
		c := &claims.Items[i]
		class := defaultClass
		if c.Spec.StorageClassName != nil {
			class = *c.Spec.StorageClassName
		}
		sc, ok := ours[class]
		if !ok || c.Spec.VolumeName != "" || c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		if err := p.provision(ctx, c, sc); err != nil {
			p.Logf("provision %s/%s: %v", c.Namespace, c.Name, err)
		}
	}
	vols, err := p.Client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	for i := range vols.Items {
		v := &vols.Items[i]
		if v.Annotations[annProvisionedBy] != Name || v.Status.Phase != corev1.VolumeReleased ||
			v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			continue
		}
		if err := p.remove(ctx, v); err != nil {
			p.Logf("delete %s: %v", v.Name, err)
		}
	}
	return nil
}

// volumeName is derived from the claim's UID, as the built-in provisioners
// do, so a retried round finds the volume it already made.
func volumeName(c *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(c.UID)
}

func (p *Provisioner) provision(ctx context.Context, c *corev1.PersistentVolumeClaim, sc storagev1.StorageClass) error {
	name := volumeName(c)
	path := filepath.Join(p.Root, name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	// Workspace images run as a non-root user: the home directory must be
	// writable whatever uid the pod uses.
	if err := os.Chmod(path, 0o777); err != nil {
		return fmt.Errorf("chmod directory: %w", err)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	modes := c.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	size := c.Spec.Resources.Requests[corev1.ResourceStorage]
	dirType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: Name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              sc.Name,
			VolumeMode:                    c.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind:       "PersistentVolumeClaim",
				APIVersion: "v1",
				Namespace:  c.Namespace,
				Name:       c.Name,
				UID:        c.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirType},
			},
		},
	}
	_, err := p.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create volume: %w", err)
	}
	p.Logf("provisioned %s for %s/%s at %s", name, c.Namespace, c.Name, path)
	return nil
}

func (p *Provisioner) remove(ctx context.Context, v *corev1.PersistentVolume) error {
	if v.Spec.HostPath != nil {
		path := filepath.Clean(v.Spec.HostPath.Path)
		// Only ever remove what lies under our root.
		if !strings.HasPrefix(path, filepath.Clean(p.Root)+string(filepath.Separator)) {
			return fmt.Errorf("refusing to remove %s outside %s", path, p.Root)
		}
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("remove directory: %w", err)
		}
	}
	err := p.Client.CoreV1().PersistentVolumes().Delete(ctx, v.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete volume: %w", err)
	}
	p.Logf("deleted %s", v.Name)
	return nil
}
