// The cost model: credits grow linearly with pixels and with steps. One credit
// buys the reference image (512×512 at 50 steps by default), as the public
// service that inspired us charged by size and step count.

export interface CostModel {
  basePixels: number;
  baseSteps: number;
  minCredits: number;
}

export function imageCredits(model: CostModel, width: number, height: number, steps: number): number {
  const credits = ((width * height) / model.basePixels) * (steps / model.baseSteps);
  return Math.max(model.minCredits, credits);
}

export function describeCost(model: CostModel): string {
  return `credits per image = max(${model.minCredits}, width×height/${model.basePixels} × steps/${model.baseSteps})`;
}
