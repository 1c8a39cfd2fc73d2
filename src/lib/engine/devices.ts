import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { DeviceError, ModelError } from '../errors.js';

type Ort = typeof OrtModule;

/** Where the model runs: onnxruntime's execution providers that sgl drives. */
export const DEVICES = ['cpu', 'webgpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];
/** What a user may ask for (--device): a device, or `auto` (a GPU provider that starts, else the CPU). */
export const DEVICE_CHOICES = [...DEVICES, 'auto'] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

function cudaProviderPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
}

export const CUDA_INSTALL_HINT =
  'The CUDA execution provider ships separately from onnxruntime-node. On a machine with an NVIDIA GPU, CUDA 12 and cuDNN 9, ' +
  'install it with: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --foreground-scripts (npm 11 also needs: npm install-scripts approve onnxruntime-node).';

export const WEBGPU_DRIVER_HINT =
  "The WebGPU provider ships with onnxruntime-node and reaches the GPU through the system's driver: Vulkan on Linux (a GPU vendor's driver, " +
  'or Mesa 25 or later: on Debian 12, mesa-vulkan-drivers from bookworm-backports; `vulkaninfo --summary` lists the adapters), Metal on macOS, D3D12 on Windows.';

export interface OpenedSession {
  session: InferenceSession;
  device: Device;
  /** Why `auto` chose it (absent when the device was asked for by name). */
  why?: string;
}

/**
 * Opens the model on the device asked for. A device that cannot start is a
 * DeviceError that names the fix; it never falls back silently. `auto`
 * tries the GPU providers that are present (CUDA, then WebGPU) and takes the
 * CPU when none starts, saying which it took and why.
 */
export async function openSession(
  ort: Ort,
  onnxPath: string,
  choice: DeviceChoice,
  options: InferenceSession.SessionOptions,
  /** Options that apply on one device only (where outputs stay on a GPU). */
  perDevice: Partial<Record<Device, InferenceSession.SessionOptions>> = {},
): Promise<OpenedSession> {
  const open = (device: Device): Promise<InferenceSession> =>
    ort.InferenceSession.create(onnxPath, { ...options, ...perDevice[device], executionProviders: [device] });
  if (choice !== 'auto') {
    if (choice === 'cuda' && !existsSync(cudaProviderPath())) {
      throw new DeviceError(
        `--device cuda was asked for, but the CUDA execution provider is not installed (${cudaProviderPath()} is missing). ${CUDA_INSTALL_HINT}`,
      );
    }
    try {
      return { session: await open(choice), device: choice };
    } catch (err) {
      const message = (err as Error).message;
      if (choice === 'cuda') throw new DeviceError(`onnxruntime could not start the CUDA execution provider: ${message}. ${CUDA_INSTALL_HINT}`);
      if (choice === 'webgpu' && /adapter|webgpu|dawn|vulkan/i.test(message))
        throw new DeviceError(`onnxruntime could not start the WebGPU provider: ${lastLine(message)}. ${WEBGPU_DRIVER_HINT}`);
      throw new ModelError(`onnxruntime could not load ${onnxPath}: ${message}`);
    }
  }
  const refused: string[] = [];
  for (const device of ['cuda', 'webgpu'] as const) {
    if (device === 'cuda' && !existsSync(cudaProviderPath())) {
      refused.push('cuda: not installed');
      continue;
    }
    try {
      return { session: await open(device), device, why: `${device} started${refused.length ? ` (${refused.join('; ')})` : ''}` };
    } catch (err) {
      refused.push(`${device}: ${lastLine((err as Error).message)}`);
    }
  }
  try {
    return { session: await open('cpu'), device: 'cpu', why: `no GPU provider started (${refused.join('; ')})` };
  } catch (err) {
    throw new ModelError(`onnxruntime could not load ${onnxPath}: ${(err as Error).message}`);
  }
}

/** The useful end of a native error: onnxruntime prefixes its messages with the source location. */
function lastLine(message: string): string {
  const text = message.trim().split('\n').pop() ?? message;
  const at = text.lastIndexOf(' was false. ');
  return (at >= 0 ? text.slice(at + ' was false. '.length) : text).trim();
}
